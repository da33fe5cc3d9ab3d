//! `aisec attack membership --shard I/N`: a shard's share of the shadow models trained and
//! kept in --shadow-dir, and the merge that runs the attack once on all of them.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use aisec_attacks::membership::shadows::ShadowStore;

use crate::atlas_cmd::load_kb;
use crate::membership_cmd::{run_into, MembershipArgs};
use crate::output::print_text;
use crate::{Cli, Outcome};

/// A shadow-training shard's own part of its result.
#[derive(serde::Serialize, serde::Deserialize)]
struct ShadowShard {
    /// The command line that ran (the merge runs it again without --shard), and where.
    argv: Vec<String>,
    cwd: PathBuf,
    shadow_dir: PathBuf,
    /// This shard's models' keys, and every model's.
    kept: Vec<String>,
    all: Vec<String>,
    /// The SHA-256 of each kept model's file, in the order of `kept`.
    digests: Vec<String>,
}

/// --shard and --shadow-dir go with the attacks that train shadow models, and a shard runs
/// no attack to store.
pub(crate) fn check_flags(
    cli: &Cli,
    entry: &aisec_attacks::membership::MembershipEntry,
    args: &MembershipArgs,
) -> Result<()> {
    if args.shard.is_some() || args.shadow_dir.is_some() {
        if !entry.reads.contains(&"--shadows") {
            bail!(
                "--shard and --shadow-dir apply to the attacks that train shadow models ({}); {} trains none",
                aisec_attacks::membership::ATTACKS
                    .iter()
                    .filter(|e| e.reads.contains(&"--shadows"))
                    .map(|e| e.name)
                    .collect::<Vec<_>>()
                    .join(", "),
                entry.name
            );
        }
        if args.shard.is_some() && cli.store {
            bail!("--store with --shard: a shard runs no attack; store the merged report (`aisec report merge … --store`)");
        }
    }
    Ok(())
}

/// Writes the shard result once the shard's models are kept; any other ending is an error.
pub(crate) fn finish_shard(
    args: &MembershipArgs,
    shard: aisec_scan::shard::Shard,
    store: &ShadowStore,
    ended: Option<anyhow::Error>,
    started: std::time::Instant,
) -> Result<Outcome> {
    let done = ended.as_ref().and_then(|e| {
        e.chain()
            .find_map(|c| match c.downcast_ref::<aisec_attacks::AttackError>() {
                Some(aisec_attacks::AttackError::ShadowShardDone {
                    trained,
                    kept,
                    total,
                }) => Some((*trained, *kept, *total)),
                _ => match c.downcast_ref::<aisec_assess::AssessError>() {
                    Some(aisec_assess::AssessError::Attack(
                        aisec_attacks::AttackError::ShadowShardDone {
                            trained,
                            kept,
                            total,
                        },
                    )) => Some((*trained, *kept, *total)),
                    _ => None,
                },
            })
    });
    let Some((trained, kept, total)) = done else {
        return Err(ended.unwrap_or_else(|| {
            anyhow::anyhow!(
                "--shard: the attack trained no shadow models, so there was nothing to shard"
            )
        }));
    };
    let all = store.job_keys();
    let mine: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(m, _)| m % shard.count == shard.index - 1)
        .map(|(_, k)| k.clone())
        .collect();
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    strip_flag(&mut argv, "--shard");
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let dir = args
        .shadow_dir
        .clone()
        .expect("--shard requires --shadow-dir");
    let digests: Vec<String> = mine
        .iter()
        .map(|k| store.kept_digest(k).unwrap_or_default())
        .collect();
    let part = ShadowShard {
        digests,
        argv: argv.clone(),
        cwd: cwd.clone(),
        shadow_dir: std::path::absolute(&dir).unwrap_or(dir.clone()),
        kept: mine,
        all: all.clone(),
    };
    let digest =
        aisec_assess::shards::digest(&[all.join(",").as_bytes(), argv.join("\0").as_bytes()]);
    let result = aisec_assess::shards::ShardResult::new(
        aisec_assess::shards::Job::MembershipShadows,
        shard,
        digest,
        format!("aisec {}", argv.join(" ")),
        started.elapsed().as_secs_f64(),
        serde_json::to_value(&part)?,
    );
    let file = dir.join(format!("shard-{}-of-{}.json", shard.index, shard.count));
    result.write(&file)?;
    print_text(&format!(
        "shard {shard}: {kept} of {total} shadow models are this shard's ({trained} trained now, {} kept from an earlier try) in {}; result in {} (run the attack with `aisec report merge`)\n",
        kept - trained,
        dir.display(),
        file.display()
    ))?;
    Ok(Outcome::Ok)
}

/// Removes `--flag VALUE` and `--flag=VALUE` from a command line.
fn strip_flag(argv: &mut Vec<String>, flag: &str) {
    let mut i = 0;
    while i < argv.len() {
        if argv[i] == flag {
            argv.drain(i..(i + 2).min(argv.len()));
        } else if argv[i].starts_with(&format!("{flag}=")) {
            argv.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Runs the attack of N shadow-training shards with every model loaded, and writes its report.
pub(crate) fn merge(
    cli: &Cli,
    gathered: &aisec_assess::shards::Gathered,
    out: &std::path::Path,
) -> Result<Outcome> {
    let mut parts = Vec::new();
    for (path, r) in &gathered.results {
        let part: ShadowShard = serde_json::from_value(r.payload.clone())
            .with_context(|| format!("{}: malformed shadow-training shard", path.display()))?;
        parts.push(part);
    }
    let first = &parts[0];
    // The models are read from the folder the results are in (a shard writes its result
    // beside its models), which is the recorded one unless the folder was moved or copied.
    let folders: std::collections::BTreeSet<PathBuf> = gathered
        .results
        .iter()
        .map(|(p, _)| {
            let parent = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            parent
                .canonicalize()
                .unwrap_or_else(|_| parent.to_path_buf())
        })
        .collect();
    if folders.len() > 1 {
        bail!(
            "the shard results are in {} folders ({}); a membership job's results sit beside its shadow models, in one folder",
            folders.len(),
            folders.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let shadow_dir = folders.into_iter().next().expect("at least one result");
    let mut missing = Vec::new();
    for key in &first.all {
        let Some((part, k)) = parts
            .iter()
            .find_map(|p| p.kept.iter().position(|x| x == key).map(|k| (p, k)))
        else {
            bail!("shadow model {key} is in no shard's result: the shards do not cover the job");
        };
        let file = shadow_dir.join(format!("shadow-{key}.safetensors"));
        if !file.is_file() {
            missing.push(file.display().to_string());
        } else if aisec_attacks::membership::shadows::file_digest(&file).as_deref()
            != part.digests.get(k).map(String::as_str)
        {
            bail!(
                "{}: not the model the shard kept (its SHA-256 differs from the one in the shard's result): changed or damaged since; run that shard again",
                file.display()
            );
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} of {} shadow models the shards kept are not in {} (first: {}); is the folder shared with the machines that ran them?",
            missing.len(),
            first.all.len(),
            shadow_dir.display(),
            missing[0]
        );
    }
    if shadow_dir != first.shadow_dir {
        eprintln!(
            "note: the shadow models are read from {} (where the results are), not {} (where the shards wrote them)",
            shadow_dir.display(),
            first.shadow_dir.display()
        );
    }
    let out = std::path::absolute(out).context("--out: cannot make the path absolute")?;
    let mut argv = vec!["aisec".to_string()];
    argv.extend(first.argv.iter().cloned());
    let recorded = <Cli as clap::Parser>::try_parse_from(&argv).with_context(|| {
        format!(
            "the shards' command line no longer parses: {}",
            argv.join(" ")
        )
    })?;
    let crate::Command::Attack(crate::attack_cmd::AttackCommand::Membership(mut args)) =
        recorded.command
    else {
        bail!(
            "the shards' command line is not a membership attack: {}",
            argv.join(" ")
        );
    };
    args.shard = None;
    args.shadow_dir = Some(shadow_dir.clone());
    // Relative paths in the command (data, model) are the shards' folder's.
    std::env::set_current_dir(&first.cwd).with_context(|| {
        format!(
            "cannot enter {}, the folder the shards ran in",
            first.cwd.display()
        )
    })?;
    let mut report = None;
    let outcome = run_into(cli, &args, Some(&mut report))?;
    let report = report.context("the membership attack wrote no report")?;
    let kb = load_kb(cli)?;
    crate::report_cmd::write_run(&out, &report, &kb)?;
    Ok(outcome)
}
