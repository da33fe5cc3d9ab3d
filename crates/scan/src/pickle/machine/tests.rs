//! The machine against hand-written pickles.

use std::rc::Rc;

use super::*;

fn budget() -> Budget {
    Budget {
        opcodes_left: 1_000_000,
        max_memo: 1000,
        max_stack: 1000,
        max_expansion: 1 << 20,
        deadline: None,
    }
}

#[test]
fn dtype_sizes() {
    assert_eq!(dtype_itemsize("<f8"), Some(8));
    assert_eq!(dtype_itemsize("|b1"), Some(1));
    assert_eq!(dtype_itemsize("<U5"), Some(20));
    assert_eq!(dtype_itemsize("<M8[ns]"), Some(8));
    assert_eq!(dtype_itemsize("O"), None);
}

#[test]
fn protocol_zero_text_operands() {
    let data = b"cposix\nsystem\n(S'echo \\'hi\\''\ntR.";
    let mut b = budget();
    let t = Machine::run(data, 0, &mut b).unwrap();
    assert_eq!(t.imports[0].qualified(), "posix.system");
    assert_eq!(t.calls.len(), 1);
    let args = t.calls[0].args.items().unwrap();
    assert_eq!(args[0].text(data).as_deref(), Some("echo 'hi'"));
    assert_eq!(t.end, data.len());
}

#[test]
fn python2_names_are_mapped() {
    let data = b"c__builtin__\neval\n(S'1'\ntR.";
    let t = Machine::run(data, 0, &mut budget()).unwrap();
    assert_eq!(t.imports[0].qualified(), "builtins.eval");
}

#[test]
fn refuses_what_python_refuses() {
    for (bad, why) in [
        (&b"\x80\x02h\x05."[..], "never PUT"),
        (b"\x80\x02t.", "MARK"),
        (b"\x80\x02R.", "empty"),
        (b"\x80\x02\xff.", "unknown opcode"),
        (b"\x80\x02X\xff\x00\x00\x00ab", "ends inside"),
        (b"\x80\x02N", "without STOP"),
    ] {
        let err = Machine::run(bad, 0, &mut budget()).unwrap_err().1;
        match err.failure {
            Failure::Malformed(m) => assert!(m.contains(why), "{m} lacks {why}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn self_referencing_lists_are_freed() {
    // l = []; l.append(l)
    let data = b"\x80\x02]q\x00h\x00a.";
    let t = Machine::run(data, 0, &mut budget()).unwrap();
    let Some(V::Node(list)) = t.result.clone() else {
        panic!("a list")
    };
    assert_eq!(
        Rc::strong_count(&list),
        4,
        "stack result, memo-free trace copy, registry, and itself"
    );
    drop(t);
    assert_eq!(
        Rc::strong_count(&list),
        1,
        "the cycle is broken when the trace goes"
    );
}

#[test]
fn dup_bombs_stay_linear_and_hit_the_expansion_budget() {
    // Each round: GET 0, DUP, TUPLE2, PUT 0 — doubles the logical size.
    let mut data = b"\x80\x04]q\x00".to_vec();
    for _ in 0..40 {
        data.extend_from_slice(b"h\x002\x86q\x000");
    }
    data.extend_from_slice(b"h\x00.");
    let err = Machine::run(&data, 0, &mut budget()).unwrap_err().1;
    assert!(
        matches!(err.failure, Failure::Budget(ref m) if m.contains("expansion")),
        "{err:?}"
    );
}
