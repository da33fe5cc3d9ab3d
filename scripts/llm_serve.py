"""Serves a GGUF model with llama.cpp's own OpenAI-compatible HTTP server, through the
xllamacpp wheel (MIT; llama.cpp's server compiled in). Started and stopped by
scripts/llm-server.sh; on 127.0.0.1 only, one inference thread, greedy sampling.

usage: llm_serve.py MODEL.gguf PORT
"""
import signal
import sys
import time

import xllamacpp


def main() -> None:
    model, port = sys.argv[1], int(sys.argv[2])
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.port = port
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.n_parallel = 1
    params.n_ctx = 4096
    # The model's own chat template (Jinja), which is what renders `tools`.
    params.use_jinja = True
    params.sampling.temp = 0.0
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
