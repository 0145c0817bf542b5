//! Hot reload: new versions are picked up while clients score without a
//! single failure; broken artifacts never serve; labels pin versions.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use leadscore::serve::proto::{GetModelRequest, ListModelsRequest, ScoreRequest};
use leadscore::train::write_artifact;

use crate::helpers::{
    eventually, lead, model_repo, settings, spawn_with, synthetic_artifact, MODEL,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_fails_no_request() {
    // Arrange: version 1 serving, four clients scoring in a loop.
    let repo = model_repo(1);
    let root = repo.path().to_path_buf();
    let mut s = settings(&root);
    s.reload_poll_interval = Some(Duration::from_millis(300));
    let app = spawn_with(s, Some(repo)).await;
    let published = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let mut client = app.client();
        let published = published.clone();
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failures, mut versions) = (0u64, Vec::new(), BTreeSet::new());
            while !stop.load(Ordering::SeqCst) {
                let result = client
                    .score(ScoreRequest {
                        leads: vec![lead(&format!("c{c}"), 3.0, true, "51-200")],
                        ..Default::default()
                    })
                    .await;
                let newest_valid = published.load(Ordering::SeqCst);
                match result {
                    Ok(r) => {
                        let v: u64 = r.into_inner().version.parse().expect("numeric version");
                        assert!(
                            v >= 1 && v <= newest_valid,
                            "served version {v} was never valid (newest {newest_valid})"
                        );
                        versions.insert(v);
                        ok += 1;
                    }
                    Err(status) => failures.push(status),
                }
            }
            (ok, failures, versions)
        }));
    }

    // Act: publish 20 new versions, with broken ones in between.
    for v in 2..=21u64 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        if v % 5 == 0 {
            // A garbage artifact with a higher number must never serve...
            let broken = root.join(MODEL).join((1000 + v).to_string());
            std::fs::create_dir_all(&broken).expect("mkdir");
            std::fs::write(
                broken.join("model.json"),
                b"{\"format_version\": 1, \"features\": [",
            )
            .expect("write");
            // ...and a half-written directory (no model.json yet) is ignored.
            std::fs::create_dir_all(root.join(MODEL).join((2000 + v).to_string())).expect("mkdir");
        }
        // Valid from the moment it is written (the rename makes it visible).
        published.store(v, Ordering::SeqCst);
        write_artifact(synthetic_artifact(), &root.join(MODEL).join(v.to_string()))
            .expect("publish");
    }
    let mut client = app.client();
    eventually(15, "version 21 serving", || {
        let mut client = client.clone();
        async move {
            client
                .get_model(GetModelRequest::default())
                .await
                .is_ok_and(|r| r.into_inner().version == "21")
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);

    // Assert
    let mut total = 0;
    let mut seen = BTreeSet::new();
    for handle in clients {
        let (ok, failures, versions) = handle.await.expect("client task");
        assert!(
            failures.is_empty(),
            "failed requests during reload: {failures:?}"
        );
        total += ok;
        seen.extend(versions);
    }
    assert!(total > 50, "only {total} requests were made");
    assert!(seen.len() >= 2, "clients saw versions {seen:?}");
    let response = client
        .score(ScoreRequest {
            leads: vec![lead("final", 3.0, true, "51-200")],
            ..Default::default()
        })
        .await
        .expect("Score")
        .into_inner();
    assert_eq!(response.version, "21");
    // Only the newest three versions stay loaded.
    let list = client
        .list_models(ListModelsRequest {})
        .await
        .expect("ListModels")
        .into_inner();
    let versions: Vec<&str> = list.models.iter().map(|m| m.version.as_str()).collect();
    assert_eq!(versions, ["19", "20", "21"]);
}

#[tokio::test]
async fn a_broken_overwrite_keeps_the_loaded_copy_serving() {
    let repo = model_repo(2);
    let root = repo.path().to_path_buf();
    let app = spawn_with(settings(&root), Some(repo)).await;
    let before = app
        .client()
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!(before.version, "2");

    std::fs::write(root.join(MODEL).join("2").join("model.json"), b"not json").expect("overwrite");
    // A new valid version after it proves a reload has happened since.
    write_artifact(synthetic_artifact(), &root.join("other").join("1")).expect("publish");
    let mut client = app.client();
    eventually(10, "model \"other\" loaded", || {
        let mut client = client.clone();
        async move {
            client
                .get_model(GetModelRequest {
                    model: "other".into(),
                    version: String::new(),
                })
                .await
                .is_ok()
        }
    })
    .await;

    let after = client
        .get_model(GetModelRequest::default())
        .await
        .expect("GetModel")
        .into_inner();
    assert_eq!(after.version, "2");
    assert_eq!(
        after.loaded_at_unix, before.loaded_at_unix,
        "the loaded copy, not a reload"
    );
    client
        .score(ScoreRequest {
            leads: vec![lead("x", 1.0, false, "1-10")],
            ..Default::default()
        })
        .await
        .expect("still scoring on version 2");
}

#[tokio::test]
async fn labels_pin_versions_and_a_rollback_is_one_edit() {
    let repo = model_repo(3);
    let root = repo.path().to_path_buf();
    std::fs::write(
        root.join("repository.toml"),
        "[labels.leads]\nstable = 2\ncanary = 3\n",
    )
    .expect("write repository.toml");
    let app = spawn_with(settings(&root), Some(repo)).await;
    let version_of = |label: &'static str| {
        let mut client = app.client();
        async move {
            client
                .score(ScoreRequest {
                    model: MODEL.into(),
                    version: label.into(),
                    leads: vec![lead("l", 1.0, true, "1-10")],
                })
                .await
                .map(|r| r.into_inner().version)
        }
    };
    assert_eq!(version_of("stable").await.expect("stable"), "2");
    assert_eq!(version_of("canary").await.expect("canary"), "3");
    assert_eq!(
        version_of("nightly")
            .await
            .expect_err("unknown label")
            .code(),
        tonic::Code::NotFound
    );
    let list = app
        .client()
        .list_models(ListModelsRequest {})
        .await
        .expect("ListModels")
        .into_inner();
    let labels: Vec<(String, Vec<String>)> = list
        .models
        .iter()
        .map(|m| (m.version.clone(), m.labels.clone()))
        .collect();
    assert_eq!(
        labels,
        [
            ("1".to_string(), vec![]),
            ("2".to_string(), vec!["stable".to_string()]),
            ("3".to_string(), vec!["canary".to_string()])
        ]
    );

    // Roll back: point stable at version 1.
    std::fs::write(
        root.join("repository.toml"),
        "[labels.leads]\nstable = 1\ncanary = 3\n",
    )
    .expect("edit");
    eventually(10, "stable -> 1", || {
        let f = version_of("stable");
        async move { f.await.is_ok_and(|v| v == "1") }
    })
    .await;
}

#[test]
fn a_scan_reads_only_the_versions_it_keeps() {
    // 40 versions on disk, the newest one broken: the scan loads the newest
    // three valid ones and does not even read the other 36.
    let repo = model_repo(40);
    std::fs::write(
        repo.path().join(MODEL).join("40").join("model.json"),
        b"broken",
    )
    .expect("break");
    let scan =
        leadscore::serve::registry::ModelRegistry::load_dir(repo.path(), None).expect("scan");
    let mut loaded: Vec<u64> = scan.loaded.iter().map(|(_, v)| *v).collect();
    loaded.sort_unstable();
    assert_eq!(loaded, [37, 38, 39]);
    assert_eq!(scan.refused.len(), 1, "{:?}", scan.refused);
}
