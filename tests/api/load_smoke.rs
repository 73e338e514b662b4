//! CI smoke of the load tool (`examples/load/`): a few seconds of tiny b1, b3, b4 and b5
//! against a `jim serve` the tool starts itself, so the tool cannot rot. `cargo test` builds
//! every example next to the test binaries (target/<profile>/examples/load); when the binary
//! is missing (e.g. only `--test api` was built) this test fails, it never skips.

use std::process::Command;

use crate::helpers::jim_bin;

#[test]
fn the_load_tool_smoke_run_is_clean() {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/api-HASH -> target/<profile>/examples/load
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target profile dir");
    let load = profile_dir.join("examples").join(format!("load{}", std::env::consts::EXE_SUFFIX));
    assert!(
        load.is_file(),
        "the load tool is not built at {} (`cargo test` builds it; or run `cargo build --example load`)",
        load.display()
    );
    let out = Command::new(&load)
        .args(["--smoke", "--jim", jim_bin()])
        .output()
        .expect("run the load tool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "load --smoke failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("SMOKE OK"), "{stdout}");
    for scenario in ["b1", "b3", "b4", "b5"] {
        assert!(
            stdout.contains(&format!("RESULT {{\"scenario\":\"{scenario}\"")),
            "no {scenario} result:\n{stdout}"
        );
    }
}
