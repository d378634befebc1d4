//! Tests whose numbers come from burn's random stream, each in a process of its own.
//!
//! burn's CPU backend keeps one random stream per process: parameter initialisers (which run lazily,
//! at a parameter's first use), dropout masks and `Tensor::random` all draw from it, in whatever
//! order the test threads reach it. A test that builds random weights or trains in training mode in
//! the shared test process therefore gets values that depend on which tests ran before it and on
//! thread timing. [`own_process`] runs such a test's body in a child process (the same test binary,
//! that one test alone) whose stream is seeded by the test: a stream no other test can advance.

use std::process::Command;

/// Set in the child: the name of the one test it runs.
const CHILD: &str = "CLAP_TOOLS_OWN_PROCESS_TEST";

/// Run `body` in a child process of its own, with the CPU backend's random stream seeded with
/// `seed` first; panics (with the child's output) unless the child passed. `test` is the test's path
/// as the test harness names it (`module::test_name`); [`crate::own_process!`] fills it in.
pub fn own_process(test: &str, seed: u64, body: impl FnOnce()) {
    use burn::tensor::backend::Backend;
    if std::env::var(CHILD).as_deref() == Ok(test) {
        crate::Cpu::seed(&Default::default(), seed);
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(&exe)
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, test)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `--exact` with a wrong name runs nothing and still succeeds: require the one test to have run.
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in its own process ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// The test harness's name of the test function that contains `marker` (a function item declared in
/// it): its type path without the crate name and without the marker's own name.
#[doc(hidden)]
pub fn test_name(marker_type: &str) -> String {
    let path = marker_type.strip_suffix("::marker").unwrap_or(marker_type);
    path.split_once("::").map_or(path, |(_crate, rest)| rest).to_string()
}

/// `own_process!(seed, { body })`: run the enclosing test's body in a process of its own with the
/// CPU backend's random stream seeded with `seed` (see [`own_process`]).
#[macro_export]
macro_rules! own_process {
    ($seed:expr, $body:block) => {{
        fn marker() {}
        let name = $crate::testing::test_name(std::any::type_name_of_val(&marker));
        $crate::testing::own_process(&name, $seed, || $body)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::backend::Backend;
    use burn::tensor::{Distribution, Tensor};

    fn draw() -> Vec<f32> {
        Tensor::<crate::Cpu, 1>::random([8], Distribution::Default, &Default::default()).into_data().to_vec().unwrap()
    }

    #[test]
    fn the_test_path_is_the_harness_name() {
        assert_eq!(test_name("it::model_wavegram::trains_a_step::marker"), "model_wavegram::trains_a_step");
        fn marker() {}
        assert_eq!(test_name(std::any::type_name_of_val(&marker)), "testing::tests::the_test_path_is_the_harness_name");
    }

    // In the child, the stream starts at the test's seed, whatever the other tests of this binary
    // draw meanwhile in theirs.
    #[test]
    fn a_seeded_child_draws_from_its_seed() {
        crate::own_process!(11, {
            let first = draw();
            crate::Cpu::seed(&Default::default(), 11);
            assert_eq!(draw(), first);
        });
    }

    // The child runs this same test, whose body panics with another message (so it fails there);
    // the parent then panics with its own.
    #[test]
    #[should_panic(expected = "in its own process")]
    fn a_failing_body_fails_the_test() {
        own_process("testing::tests::a_failing_body_fails_the_test", 1, || panic!("the body failed"));
    }
}
