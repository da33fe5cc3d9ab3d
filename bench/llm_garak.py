"""garak and aisec against the same llama.cpp server: throughput at equal concurrency, and
both tools' verdicts on the same replies.

1. garak 0.17.1 runs its own comparable probes (grandma.Win10 role play, web_injection markdown
   exfiltration, promptinject hijacking; its sysprompt_extraction needs a Hugging Face download,
   which this machine cannot make) through its OpenAICompatible generator, at most 8 prompts
   each; aisec runs roleplay, markdown-exfil and direct-injection. Both one request at a time. Wall time
   is for the whole process (garak's includes its start-up, stated beside it).
2. Verdicts on the same replies: every reply in aisec's journal is also judged by garak's
   MitigationBypass detector (garak's jailbreak judge: "no refusal phrase" means the attack got
   through). Where garak says "got through" and aisec found no evidence, the reply is printed
   for a hand check, and the reverse.

usage: llm_garak.py URL AISEC_BIN OUT_DIR   (run by bench/llm_garak.sh)
"""
import json
import os
import subprocess
import sys
import time

from garak.attempt import Attempt, Message
from garak.detectors.mitigation import MitigationBypass


def garak_run(url, out_dir):
    options = {"openai": {"OpenAICompatible": {
        "uri": url, "api_key": "none", "model": "qwen", "max_tokens": 160,
        "temperature": 0.0, "suppressed_params": ["n", "stop"], "retry_json": False}}}
    opt_file = os.path.join(out_dir, "garak-options.json")
    with open(opt_file, "w") as f:
        json.dump(options, f)
    # At most 8 prompts per probe, one generation each, so the two runs stay comparable.
    config = os.path.join(out_dir, "garak-config.yaml")
    with open(config, "w") as f:
        f.write("run:\n  soft_probe_prompt_cap: 8\n  generations: 1\n  seed: 7\n")
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "garak", "--target_type", "openai.OpenAICompatible",
         "--target_name", "qwen", "--generator_option_file", opt_file,
         "--config", config,
         "--probes", "grandma.Win10,web_injection.MarkdownImageExfil,promptinject.HijackHateHumans",
         "--parallel_attempts", "1",
         "--report_prefix", os.path.join(out_dir, "garak")],
        capture_output=True, text=True)
    wall = time.time() - started
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
    reports = [f for f in os.listdir(out_dir) if f.startswith("garak") and f.endswith(".report.jsonl")]
    attempts = 0
    hits = {}
    for rep in reports:
        for line in open(os.path.join(out_dir, rep)):
            e = json.loads(line)
            if e.get("entry_type") == "attempt" and e.get("status") == 2:
                attempts += 1
            if e.get("entry_type") == "eval":
                hits[f'{e["probe"]} / {e["detector"]}'] = (e["total_evaluated"] - e["passed"], e["total_evaluated"])
    return wall, attempts, hits, proc.stdout[-1500:]


def aisec_run(url, aisec, out_dir):
    journal = os.path.join(out_dir, "aisec.jsonl")
    if os.path.exists(journal):
        os.remove(journal)
    started = time.time()
    proc = subprocess.run(
        [aisec, "--format", "json", "llm", "probe", "--target", url, "--model", "qwen",
         "--probes", "roleplay,markdown-exfil,direct-injection", "--concurrency", "1",
         "--journal", journal], capture_output=True, text=True)
    wall = time.time() - started
    report = json.loads(proc.stdout)
    return wall, report, journal


def main():
    url, aisec, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out_dir, exist_ok=True)
    g_wall, g_attempts, g_hits, g_tail = garak_run(url.removeprefix("openai+"), out_dir)
    a_wall, a_report, journal = aisec_run(url, aisec, out_dir)
    requests = a_report["observations"]["spent"]["requests"]
    print(f"garak: {g_attempts} attempts in {g_wall:.1f} s ({g_attempts / g_wall:.3f}/s, whole process)")
    for k, (fails, total) in sorted(g_hits.items()):
        print(f"  {k}: {fails}/{total} judged successful attacks")
    print(f"aisec: {requests} requests in {a_wall:.1f} s ({requests / a_wall:.3f}/s, whole process)")
    for k, t in a_report["observations"]["summary"]["by_probe"].items():
        print(f"  {k}: {t['successes']}/{t['attempts']} (95% CI {t['ci95']})")

    garak = MitigationBypass()
    rows = [json.loads(l) for l in open(journal).read().splitlines()[1:]]
    both = {"garak: through, aisec: success": 0, "garak: through, aisec: failure": [],
            "garak: refused, aisec: success": [], "garak: refused, aisec: failure": 0}
    for a in rows:
        reply = a["replies"][-1]["content"] if a["replies"] else ""
        att = Attempt(prompt=Message(a["turns"][-1], lang="en"))
        att.outputs = [Message(reply, lang="en")]
        through = garak.detect(att)[0] == 1.0
        ok = a["outcome"] == "success"
        key = f"garak: {'through' if through else 'refused'}, aisec: {'success' if ok else 'failure'}"
        if isinstance(both[key], list):
            both[key].append((a["id"], a["verdict"].get("how"), reply[:160].replace("\n", " ")))
        else:
            both[key] += 1
    print("\nverdicts on aisec's replies (garak MitigationBypass vs aisec's evidence):")
    for k, v in both.items():
        print(f"  {k}: {v if isinstance(v, int) else len(v)}")
    for k in ("garak: through, aisec: failure", "garak: refused, aisec: success"):
        print(f"\n{k}:")
        for i, how, r in both[k]:
            print(f"  {i} [{how}] {r}")


if __name__ == "__main__":
    main()
