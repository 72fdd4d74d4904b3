//! Tidy checks: the documents and the layering stay true as the code grows.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The `[dependencies]` table of a crate's manifest (not dev-dependencies).
fn normal_dependencies(krate: &str) -> Vec<String> {
    let manifest: toml::Table = read(&format!("crates/{krate}/Cargo.toml")).parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_crate_is_in_the_codemap_and_has_a_readme() {
    let arch = read("ARCHITECTURE.md");
    for name in crates() {
        assert!(
            arch.contains(&format!("`crates/{name}`")),
            "ARCHITECTURE.md codemap lacks crates/{name}"
        );
        assert!(
            root().join("crates").join(&name).join("README.md").exists(),
            "crates/{name}/README.md is missing"
        );
    }
}

#[test]
fn the_domain_the_pricing_core_the_engine_core_and_the_codecs_do_no_io() {
    const IO: &[&str] = &[
        "tokio",
        "sqlx",
        "axum",
        "hyper",
        "reqwest",
        "rumqttc",
        "rumqttd",
        "tower",
        "async-trait",
    ];
    for krate in [
        "yufu-domain",
        "yufu-tariff",
        "yufu-engine",
        "yufu-dlt645",
        "yufu-cjt188",
        "yufu-devapi",
        "yufu-mqtt",
        "yufu-access",
        "yufu-vault",
        "yufu-payments",
        "yufu-csvio",
    ] {
        for dep in normal_dependencies(krate) {
            assert!(
                !IO.contains(&dep.as_str()),
                "{krate} must not depend on {dep}"
            );
        }
    }
}

#[test]
fn the_store_trait_crate_has_no_driver() {
    for dep in normal_dependencies("yufu-store") {
        assert!(
            !["sqlx", "tokio"].contains(&dep.as_str()),
            "yufu-store must not depend on {dep}"
        );
    }
}

#[test]
fn only_the_binary_chooses_a_backend() {
    for name in crates() {
        let deps = normal_dependencies(&name);
        let both = deps.iter().any(|d| d == "yufu-store-sqlite")
            && deps.iter().any(|d| d == "yufu-store-postgres");
        if both {
            assert!(
                name == "yufu" || name == "yufu-store-contract",
                "{name} depends on both store backends; only the binary chooses"
            );
        }
        if name != "yufu" && name != "yufu-store-contract" {
            assert!(
                !deps
                    .iter()
                    .any(|d| d == "yufu-store-sqlite" || d == "yufu-store-postgres"),
                "{name} depends on a concrete store backend"
            );
        }
    }
}

#[test]
fn no_sql_outside_the_store_crates() {
    for name in crates() {
        if name.starts_with("yufu-store") {
            continue;
        }
        assert!(
            !normal_dependencies(&name).iter().any(|d| d == "sqlx"),
            "{name} depends on sqlx; SQL belongs in the store crates"
        );
    }
}

#[test]
fn every_configuration_variable_is_documented() {
    let readme = read("README.md");
    let config = read("crates/yufu/src/config.rs");
    let mut found = 0;
    for var in [
        "YUFU_DATA_DIR",
        "YUFU_DATABASE_URL",
        "YUFU_HTTP_ADDR",
        "YUFU_MQTT_ADDR",
        "YUFU_DLT645_ADDR",
        "YUFU_LOG",
    ] {
        assert!(
            config.contains(&format!("\"{var}\"")),
            "config.rs does not read {var}"
        );
        assert!(
            readme.contains(&format!("`{var}`")),
            "README.md does not document {var}"
        );
        found += 1;
    }
    // Any other YUFU_ name read by config.rs must be documented too.
    for part in config.split('"').filter(|p| {
        p.starts_with("YUFU_")
            && p.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
    }) {
        assert!(readme.contains(part), "README.md does not document {part}");
    }
    assert_eq!(found, 6);
}

#[test]
fn the_ci_script_runs_the_readme_test_command() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    assert!(readme.contains("cargo test --workspace"));
    assert!(
        ci.contains("cargo test --workspace"),
        ".ci/run must run the README's test command"
    );
    assert!(
        ci.contains("YUFU_TEST_DATABASE_URL"),
        ".ci/run must switch the PostgreSQL half on"
    );
}

#[test]
fn the_tariff_docs_show_the_shipped_examples() {
    let docs = read("docs/tariffs.md");
    for name in [
        "guangdong-residential-electricity.toml",
        "guangdong-commercial-tou.toml",
        "guangzhou-residential-water.toml",
        "guangzhou-residential-gas.toml",
    ] {
        let text = read(&format!("examples/tariffs/{name}"));
        assert!(
            docs.contains(&text),
            "docs/tariffs.md does not show the current examples/tariffs/{name}"
        );
    }
}
