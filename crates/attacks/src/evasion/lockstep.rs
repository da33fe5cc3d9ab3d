//! Lock-step query batching for per-input searches (HopSkipJump's binary and step searches
//! ask one row at a time). Each input's search stays plain sequential code on a thread of
//! its own; its questions go to the caller's thread, which waits until every live search has
//! asked (or finished), asks the model once for all of them, in input order, and hands each
//! search its labels. One forward pass over hundreds of rows costs far less per row than
//! hundreds of one-row passes. Every round holds the same questions in the same order
//! whatever the threads' timing, so a run is reproducible, and it asks exactly the questions
//! the searches would ask one by one wherever a row's label does not depend on the rows
//! batched with it (a larger product may round differently in the last bit, which can
//! change a label only for a point on the decision boundary itself).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use super::EvasionTask;
use crate::{AttackError, Result};

/// Labels for one question's rows; None once the target stops answering (its budget spent).
type Answer = Option<Vec<usize>>;

enum Message {
    Ask { index: usize, rows: Vec<f32> },
    Done { index: usize },
}

/// How one search asks the target: directly, or through the lock-step round it belongs to.
pub(crate) enum Asker<'a> {
    Direct(&'a EvasionTask<'a>),
    Batched(BatchedAsker),
}

pub(crate) struct BatchedAsker {
    index: usize,
    questions: Sender<Message>,
    answers: Receiver<Answer>,
}

impl Asker<'_> {
    /// The target's labels for `rows` (whole inputs, concatenated).
    pub(crate) fn labels(&self, rows: &[f32]) -> Result<Answer> {
        match self {
            Asker::Direct(task) => {
                let classes = task.model.info().num_classes;
                Ok(super::query_or_stop(task, rows)?.map(|a| a.labels(classes)))
            }
            Asker::Batched(b) => {
                b.questions
                    .send(Message::Ask {
                        index: b.index,
                        rows: rows.to_vec(),
                    })
                    .map_err(|_| stopped())?;
                b.answers.recv().map_err(|_| stopped())
            }
        }
    }
}

fn stopped() -> AttackError {
    AttackError::Model(aisec_ml::MlError::Invalid(
        "the batched search stopped before answering (another input's search failed)".into(),
    ))
}

/// How many searches run at once: as many as fit `memory_bytes` of questions in flight,
/// `bytes_per_search` each, at least one per core and at most 256 (more adds threads, not
/// speed: a round of 256 one-row questions is already a large batch).
pub(crate) fn live_searches(memory_bytes: usize, bytes_per_search: usize) -> usize {
    bounded(
        memory_bytes / bytes_per_search.max(1),
        aisec_ml::model::worker_threads(),
    )
}

/// Not `fit.clamp(cores, 256)`: with more than 256 cores (or `AISEC_THREADS=1000`) its
/// bounds would cross, which panics.
fn bounded(fit: usize, cores: usize) -> usize {
    fit.max(cores).clamp(1, 256)
}

/// Runs `search(i, asker)` for every input `0..n`, at most `live` at a time (admitted in
/// input order as earlier ones finish), answering their questions in lock-step rounds.
pub(crate) fn run<T: Send>(
    task: &EvasionTask,
    n: usize,
    live: usize,
    search: impl Fn(usize, &Asker) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let classes = task.model.info().num_classes;
    let features = task.model.info().features();
    let (questions, inbox) = channel::<Message>();
    let slots: Vec<Mutex<Option<Result<T>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let (search, slots) = (&search, &slots);
    let outcome = std::thread::scope(|scope| -> Result<()> {
        let mut replies: BTreeMap<usize, Sender<Answer>> = BTreeMap::new();
        let mut next = 0usize;
        loop {
            while replies.len() < live.max(1) && next < n {
                let (reply, answers) = channel::<Answer>();
                let asker = Asker::Batched(BatchedAsker {
                    index: next,
                    questions: questions.clone(),
                    answers,
                });
                let done = questions.clone();
                let index = next;
                std::thread::Builder::new()
                    .name(format!("search-{index}"))
                    .stack_size(1 << 20)
                    .spawn_scoped(scope, move || {
                        let result = catch_unwind(AssertUnwindSafe(|| search(index, &asker)))
                            .unwrap_or_else(|_| {
                                Err(AttackError::Model(aisec_ml::MlError::Invalid(format!(
                                    "the search for input {index} panicked"
                                ))))
                            });
                        *slots[index].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                        let _ = done.send(Message::Done { index });
                    })
                    .map_err(|e| {
                        AttackError::Model(aisec_ml::MlError::Invalid(format!(
                            "could not start a search thread: {e}"
                        )))
                    })?;
                replies.insert(index, reply);
                next += 1;
            }
            if replies.is_empty() {
                return Ok(());
            }
            // One message from every live search: a question, or its end.
            let mut asked: Vec<(usize, Vec<f32>)> = Vec::with_capacity(replies.len());
            for _ in 0..replies.len() {
                match inbox.recv() {
                    Ok(Message::Ask { index, rows }) => asked.push((index, rows)),
                    Ok(Message::Done { index }) => {
                        replies.remove(&index);
                        let result = slots[index]
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .take();
                        results[index] = Some(result.ok_or_else(stopped)??);
                    }
                    Err(_) => return Err(stopped()),
                }
            }
            if asked.is_empty() {
                continue;
            }
            asked.sort_by_key(|(index, _)| *index);
            let rows: Vec<f32> = asked.iter().flat_map(|(_, r)| r.iter().copied()).collect();
            let labels = super::query_or_stop(task, &rows)?.map(|a| a.labels(classes));
            let mut offset = 0;
            for (index, question) in &asked {
                let count = question.len() / features.max(1);
                let answer = labels.as_ref().map(|l| l[offset..offset + count].to_vec());
                offset += count;
                if let Some(reply) = replies.get(index) {
                    let _ = reply.send(answer);
                }
            }
        }
    });
    outcome?;
    results.into_iter().map(|r| r.ok_or_else(stopped)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_ml::data::BuiltinDataset;
    use aisec_ml::model::Classifier;
    use aisec_ml::native::NativeModel;

    fn digits_cnn() -> NativeModel {
        NativeModel::load(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../ml/tests/fixtures/onnx/digits-cnn"),
        )
        .unwrap()
    }

    /// Input `i`'s `q`-th question: 1–3 rows of its image, shifted by amounts of its own.
    fn question(task: &EvasionTask, i: usize, q: usize) -> Vec<f32> {
        let f = task.model.info().features();
        let image = &task.x[i * f..(i + 1) * f];
        (0..1 + (i + q) % 3)
            .flat_map(|r| {
                image
                    .iter()
                    .map(move |v| v + 0.4 * ((i * 7 + q * 3 + r) % 5) as f32 - 0.8)
            })
            .collect()
    }

    #[test]
    fn questions_asked_in_lock_step_get_the_answers_asked_one_by_one() {
        let model = digits_cnn();
        let (_, test) = BuiltinDataset::Digits.split();
        let data = test.head(12);
        let task = EvasionTask::on(&model, &data, 1);
        // Searches of different lengths, so that rounds shrink as they finish.
        let search = |i: usize, asker: &Asker| -> Result<Vec<usize>> {
            let mut seen = Vec::new();
            for q in 0..2 + i % 5 {
                seen.extend(asker.labels(&question(&task, i, q))?.unwrap());
            }
            Ok(seen)
        };
        let before = model.budget().used();
        let batched = run(&task, 12, 5, search).unwrap();
        let asked = model.budget().used() - before;
        let direct = Asker::Direct(&task);
        let one_by_one: Vec<Vec<usize>> = (0..12).map(|i| search(i, &direct).unwrap()).collect();
        assert_eq!(batched, one_by_one);
        assert_eq!(
            asked,
            model.budget().used() - before - asked,
            "the same rows asked"
        );
        assert!(
            batched
                .iter()
                .flatten()
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1
        );
    }

    #[test]
    fn live_searches_stay_between_one_and_256_whatever_the_cores() {
        assert_eq!(bounded(0, 0), 1);
        assert_eq!(bounded(3, 2), 3);
        assert_eq!(bounded(0, 16), 16);
        assert_eq!(bounded(100_000, 2), 256);
        assert_eq!(bounded(10, 1000), 256);
    }

    #[test]
    fn a_failing_or_panicking_search_ends_the_run_with_an_error_not_a_hang() {
        let model = digits_cnn();
        let (_, test) = BuiltinDataset::Digits.split();
        let data = test.head(8);
        let task = EvasionTask::on(&model, &data, 1);
        for bad in [3usize, 6] {
            let result = run(&task, 8, 8, |i, asker| {
                for q in 0..40 {
                    if i == bad && q == 2 {
                        if bad == 6 {
                            panic!("search {i} panics");
                        }
                        return Err(stopped());
                    }
                    asker.labels(&question(&task, i, q))?;
                }
                Ok(())
            });
            assert!(result.is_err(), "search {bad} failed, so the run fails");
        }
    }
}
