//! `rlxc lsp` driven by a real editor: headless Neovim (tests/nvim/e2e.lua) opens an example, reads
//! its diagnostics, introduces a mistake, and asks for hover and completion. Needs `nvim` (Debian's
//! `neovim` package, which `.ci/run` installs); skipped with a message without it, unless
//! `RLX_REQUIRE_NVIM` is set (as `.ci/run` sets it).

use std::path::Path;
use std::process::Command;

#[test]
fn neovim_shows_diagnostics_hover_and_completion() {
    if Command::new("nvim").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("RLX_REQUIRE_NVIM").is_none(),
            "nvim is required (RLX_REQUIRE_NVIM is set) but not installed"
        );
        eprintln!("skipped: nvim is not installed (apt-get install neovim)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::temp_dir().join(format!("rlxc-nvim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A copy, with the example's data linked beside it, so the editor's change never touches the
    // example itself.
    std::fs::create_dir_all(dir.join("papers")).unwrap();
    let recipe = dir.join("papers/dapo.rlx");
    std::fs::copy(root.join("examples/papers/dapo.rlx"), &recipe).unwrap();
    let data = dir.join("data");
    if !data.exists() {
        std::os::unix::fs::symlink(root.join("examples/data").canonicalize().unwrap(), &data)
            .unwrap();
    }
    let out = dir.join("results.json");
    let status = Command::new("nvim")
        .args(["--headless", "--clean", "-n", "-u", "NONE", "-c"])
        .arg(format!(
            "luafile {}",
            root.join("compiler/rlxc/tests/nvim/e2e.lua").display()
        ))
        .env("RLXC", env!("CARGO_BIN_EXE_rlxc"))
        .env("RLX_FILE", &recipe)
        .env("RLX_OUT", &out)
        .status()
        .expect("nvim runs");
    let results = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "nvim exited with {status}");
    let results: serde_json::Value = serde_json::from_str(&results).unwrap();
    assert_eq!(results["opened"], true, "{results:#}");
    assert_eq!(results["initial"], 0, "{results:#}");
    assert_eq!(results["changed"], true, "{results:#}");
    let diagnostic = &results["diagnostic"];
    assert_eq!(diagnostic["code"], "E0202", "{results:#}");
    assert_eq!(diagnostic["lnum"], results["edited_line"], "{results:#}");
    assert!(
        diagnostic["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `total`?")
    );
    assert!(
        results["hover"]
            .as_str()
            .unwrap()
            .contains("reward correct(c: completion, ex: math) -> float"),
        "{results:#}"
    );
    assert_eq!(
        results["completion"],
        serde_json::json!(["prompt_text", "answer"]),
        "{results:#}"
    );
}
