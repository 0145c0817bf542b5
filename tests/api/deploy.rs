//! The container image (`Dockerfile`) and the Kubernetes manifests
//! (`deploy/kubernetes/`) agree with the server: gRPC health probes on the
//! right port and services, ports and selectors that line up, a shutdown
//! grace the pod actually gets, non-root, and env vars that
//! `leadscore-server` accepts. No cluster or Docker needed: the YAML is
//! parsed with yaml-rust2 into `serde_json::Value` documents, the Dockerfile
//! line by line.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, Parser};
use leadscore::serve::config::ServerConfig;
use leadscore::serve::server::SERVICE_NAME;
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

const GRPC_PORT: i64 = 50051;
const METRICS_PORT: i64 = 9090;
/// The distroless `nonroot` user.
const NONROOT_UID: i64 = 65532;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn k8s_dir() -> PathBuf {
    repo_root().join("deploy").join("kubernetes")
}

// ---------------------------------------------------------------------------
// YAML loading
// ---------------------------------------------------------------------------

/// yaml-rust2's document model as JSON. Mapping keys become strings; YAML
/// aliases are not used in these manifests and are refused.
fn to_json(yaml: &Yaml, path: &Path) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(text) => {
            let number: f64 = text
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad number {text}", path.display()));
            serde_json::Number::from_f64(number)
                .map(Value::Number)
                .unwrap_or_else(|| panic!("{}: non-finite number {text}", path.display()))
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(|y| to_json(y, path)).collect()),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (key, value) in hash {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => panic!("{}: unsupported mapping key {other:?}", path.display()),
                };
                assert!(
                    map.insert(key.clone(), to_json(value, path)).is_none(),
                    "{}: duplicate key {key}",
                    path.display()
                );
            }
            Value::Object(map)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            panic!("{}: unsupported YAML node {yaml:?}", path.display())
        }
    }
}

/// Every non-empty document of a YAML file.
fn load_yaml(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    docs.iter()
        .map(|d| to_json(d, path))
        .filter(|d| !d.is_null())
        .collect()
}

/// `.yaml` / `.yml` files under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read dir {}: {e}", d.display()))
        {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The documents of the base kustomization's `resources`, in order.
fn base_manifests() -> Vec<Value> {
    let dir = k8s_dir();
    let kustomization = load_yaml(&dir.join("kustomization.yaml"));
    let resources = kustomization[0]["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources");
    resources
        .iter()
        .flat_map(|r| load_yaml(&dir.join(r.as_str().expect("resource path"))))
        .collect()
}

/// The one base manifest of `kind`.
fn one_of(kind: &str) -> Value {
    let mut found: Vec<Value> = base_manifests()
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} in deploy/kubernetes"
    );
    found.remove(0)
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {value}"))
}

fn int_of(value: &Value, what: &str) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: expected an integer, got {value}"))
}

/// The leadscore container of the Deployment's pod template.
fn server_container(deployment: &Value) -> Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    containers
        .iter()
        .find(|c| c["name"] == "leadscore")
        .or_else(|| (containers.len() == 1).then(|| &containers[0]))
        .expect("a container named leadscore")
        .clone()
}

/// The container's env as (name, value) pairs.
fn container_env(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| {
                    let name = str_of(&e["name"], "env name").to_string();
                    let value = str_of(&e["value"], &name).to_string();
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `matchLabels` (or a Service's flat selector) ⊆ the pod template's labels.
fn assert_selects_pods(what: &str, selector: &Value, pod_labels: &Value) {
    let selector = selector
        .as_object()
        .unwrap_or_else(|| panic!("{what}: selector is not a mapping"));
    assert!(
        !selector.is_empty(),
        "{what}: empty selector selects everything"
    );
    for (key, value) in selector {
        assert_eq!(
            &pod_labels[key], value,
            "{what} selects {key}={value}, but the pod template has {key}={}",
            pod_labels[key]
        );
    }
}

/// Turns `LEADSCORE_*` env vars into `leadscore-server` flags via the real
/// clap definition and parses them, so a misspelt variable or a bad value
/// (address, duration, log format) fails here rather than in the cluster.
fn assert_server_accepts_env(what: &str, env: &[(String, String)]) -> ServerConfig {
    let command = ServerConfig::command();
    let mut args = vec!["leadscore-server".to_string()];
    for (name, value) in env.iter().filter(|(n, _)| n.starts_with("LEADSCORE_")) {
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name.as_str()))
            .unwrap_or_else(|| panic!("{what}: leadscore-server reads no env var {name}"));
        let long = arg.get_long().expect("env-backed flags have a long name");
        args.push(format!("--{long}={value}"));
    }
    ServerConfig::try_parse_from(&args)
        .unwrap_or_else(|e| panic!("{what}: leadscore-server refuses {args:?}: {e}"))
}

// ---------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------

/// One Dockerfile instruction: keyword (upper case) and its arguments with
/// continuation lines joined.
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let path = repo_root().join("Dockerfile");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comment lines (also inside a continued instruction) and blank lines.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                let (keyword, args) = pending
                    .split_once(char::is_whitespace)
                    .unwrap_or((&pending, ""));
                out.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.split_whitespace().collect::<Vec<_>>().join(" "),
                });
                pending.clear();
            }
        }
    }
    assert!(
        pending.is_empty(),
        "Dockerfile ends inside a continued line"
    );
    out
}

/// The instructions of the last (runtime) stage, FROM included.
fn runtime_stage(instructions: &[Instruction]) -> &[Instruction] {
    let start = instructions
        .iter()
        .rposition(|i| i.keyword == "FROM")
        .expect("Dockerfile has a FROM");
    &instructions[start..]
}

/// `KEY=value` pairs of the ENV instructions in `stage`.
fn dockerfile_env(stage: &[Instruction]) -> Vec<(String, String)> {
    stage
        .iter()
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| {
            i.args.split_whitespace().map(|pair| {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("ENV {pair}: use the KEY=value form"));
                (k.to_string(), v.trim_matches('"').to_string())
            })
        })
        .collect()
}

/// "1.91" / "1.91.0" as [1, 91, 0], comparable.
fn parse_version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("bad version {text}")))
        .collect();
    parts.resize(3, 0);
    parts
}

// ---------------------------------------------------------------------------
// Tests: manifests as files
// ---------------------------------------------------------------------------

#[test]
fn every_yaml_file_parses_into_kubernetes_objects() {
    let files = yaml_files(&k8s_dir());
    assert!(
        files.len() >= 5,
        "deploy/kubernetes has its manifests: {files:?}"
    );
    for file in files {
        let docs = load_yaml(&file);
        assert!(!docs.is_empty(), "{}: no YAML document", file.display());
        for doc in docs {
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "{}: every document has apiVersion and kind",
                file.display()
            );
        }
    }
}

#[test]
fn kustomization_lists_every_manifest_beside_it() {
    let dir = k8s_dir();
    let kustomization = &load_yaml(&dir.join("kustomization.yaml"))[0];
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| str_of(r, "resource").to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("read deploy/kubernetes")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources vs the manifests beside it"
    );
    // Every kustomization below (components, overlays) names files that exist.
    for file in yaml_files(&dir)
        .iter()
        .filter(|p| p.ends_with("kustomization.yaml"))
    {
        let doc = &load_yaml(file)[0];
        for resource in doc["resources"].as_array().into_iter().flatten() {
            let target = file.parent().unwrap().join(str_of(resource, "resource"));
            assert!(
                target.exists(),
                "{}: {} does not exist",
                file.display(),
                target.display()
            );
        }
    }
}

#[test]
fn kinds_and_api_versions() {
    let expected = [
        ("Deployment", "apps/v1"),
        ("Service", "v1"),
        ("PodDisruptionBudget", "policy/v1"),
        ("HorizontalPodAutoscaler", "autoscaling/v2"),
    ];
    for (kind, api_version) in expected {
        let doc = one_of(kind);
        assert_eq!(doc["apiVersion"], api_version, "{kind} apiVersion");
        assert!(doc["metadata"]["name"].is_string(), "{kind} has a name");
    }
}

// ---------------------------------------------------------------------------
// Tests: the Deployment
// ---------------------------------------------------------------------------

#[test]
fn grpc_probes_check_the_health_service_on_the_grpc_port() {
    let container = server_container(&one_of("Deployment"));
    let probe_service = |probe: &str| -> String {
        let grpc = &container[probe]["grpc"];
        assert!(grpc.is_object(), "{probe} is a native gRPC probe");
        assert_eq!(int_of(&grpc["port"], probe), GRPC_PORT, "{probe} port");
        // Kubernetes' default for an absent service is "" (the whole server).
        grpc["service"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(probe_service("readinessProbe"), SERVICE_NAME);
    assert_eq!(probe_service("livenessProbe"), "");
    let startup = probe_service("startupProbe");
    assert!(
        startup.is_empty() || startup == SERVICE_NAME,
        "startupProbe service {startup}"
    );

    let ports = container["ports"].as_array().expect("container ports");
    let grpc = ports
        .iter()
        .find(|p| p["name"] == "grpc")
        .expect("a port named grpc");
    assert_eq!(
        int_of(&grpc["containerPort"], "grpc containerPort"),
        GRPC_PORT
    );
    let metrics = ports
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a port named metrics");
    assert_eq!(
        int_of(&metrics["containerPort"], "metrics containerPort"),
        METRICS_PORT
    );
}

#[test]
fn pod_runs_as_non_root_with_a_read_only_root_filesystem() {
    let deployment = one_of("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = server_container(&deployment);
    let csc = &container["securityContext"];
    let psc = &pod["securityContext"];

    let non_root = csc["runAsNonRoot"]
        .as_bool()
        .or(psc["runAsNonRoot"].as_bool());
    assert_eq!(non_root, Some(true), "runAsNonRoot");
    let uid = csc["runAsUser"].as_i64().or(psc["runAsUser"].as_i64());
    assert!(uid.is_none_or(|u| u != 0), "runAsUser must not be 0");
    assert_eq!(
        csc["readOnlyRootFilesystem"], true,
        "readOnlyRootFilesystem"
    );
    assert_eq!(
        csc["allowPrivilegeEscalation"], false,
        "allowPrivilegeEscalation"
    );
    let dropped: Vec<&str> = csc["capabilities"]["drop"]
        .as_array()
        .map(|caps| caps.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        dropped.contains(&"ALL"),
        "capabilities.drop has ALL: {dropped:?}"
    );
}

#[test]
fn resources_are_requested_and_limited() {
    let container = server_container(&one_of("Deployment"));
    for section in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            let value = &container["resources"][section][resource];
            assert!(
                value.is_string() || value.is_number(),
                "resources.{section}.{resource} is set"
            );
        }
    }
}

#[test]
fn termination_grace_covers_pre_stop_and_the_server_drain() {
    let deployment = one_of("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = server_container(&deployment);
    let grace = int_of(
        &pod["terminationGracePeriodSeconds"],
        "terminationGracePeriodSeconds",
    );
    assert!(
        grace > 30,
        "terminationGracePeriodSeconds {grace} must exceed the 30s drain"
    );

    // The distroless image has no `sleep` binary: the kubelet's sleep action.
    let pre_stop = int_of(
        &container["lifecycle"]["preStop"]["sleep"]["seconds"],
        "lifecycle.preStop.sleep.seconds",
    );
    assert!(pre_stop > 0, "preStop sleep");

    let config = assert_server_accepts_env("deployment.yaml", &container_env(&container));
    let needed = Duration::from_secs(pre_stop as u64) + config.shutdown_grace;
    assert!(
        Duration::from_secs(grace as u64) > needed,
        "terminationGracePeriodSeconds {grace}s must exceed preStop {pre_stop}s + shutdown grace {:?}",
        config.shutdown_grace
    );
}

#[test]
fn deployment_env_is_what_the_server_reads() {
    let container = server_container(&one_of("Deployment"));
    let env = container_env(&container);
    let config = assert_server_accepts_env("deployment.yaml", &env);
    assert_eq!(
        i64::from(config.grpc_addr.port()),
        GRPC_PORT,
        "LEADSCORE_GRPC_ADDR port"
    );
    let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(get("LEADSCORE_LOG_FORMAT"), Some("json"));
    if let Some(addr) = get("LEADSCORE_METRICS_ADDR") {
        let addr: std::net::SocketAddr = addr.parse().expect("LEADSCORE_METRICS_ADDR");
        assert_eq!(i64::from(addr.port()), METRICS_PORT);
    }
    // The scrape annotation points at the metrics port.
    let annotations = &one_of("Deployment")["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], METRICS_PORT.to_string());
}

// ---------------------------------------------------------------------------
// Tests: Service, PDB, HPA against the Deployment
// ---------------------------------------------------------------------------

#[test]
fn selectors_match_the_pod_labels() {
    let deployment = one_of("Deployment");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_selects_pods(
        "Deployment",
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels,
    );
    assert_selects_pods(
        "Service",
        &one_of("Service")["spec"]["selector"],
        pod_labels,
    );
    assert_selects_pods(
        "PodDisruptionBudget",
        &one_of("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        pod_labels,
    );
}

#[test]
fn service_exposes_grpc_with_app_protocol_and_metrics() {
    let service = one_of("Service");
    let spec = &service["spec"];
    assert!(
        spec["type"].is_null() || spec["type"] == "ClusterIP",
        "ClusterIP Service, got {}",
        spec["type"]
    );
    let container = server_container(&one_of("Deployment"));
    let container_ports = container["ports"].as_array().expect("container ports");
    // targetPort, by name or number, must land on a container port.
    let resolve = |target: &Value| -> i64 {
        match target {
            Value::String(name) => container_ports
                .iter()
                .find(|p| p["name"] == name.as_str())
                .map(|p| int_of(&p["containerPort"], name))
                .unwrap_or_else(|| panic!("targetPort {name} is no container port")),
            other => int_of(other, "targetPort"),
        }
    };
    let ports = spec["ports"].as_array().expect("Service ports");
    let grpc = ports
        .iter()
        .find(|p| p["name"] == "grpc")
        .expect("a Service port named grpc");
    assert_eq!(int_of(&grpc["port"], "grpc port"), GRPC_PORT);
    assert_eq!(grpc["appProtocol"], "grpc", "meshes need appProtocol grpc");
    assert_eq!(resolve(&grpc["targetPort"]), GRPC_PORT);
    let metrics = ports
        .iter()
        .find(|p| p["port"] == METRICS_PORT)
        .expect("a Service port for metrics");
    assert_eq!(resolve(&metrics["targetPort"]), METRICS_PORT);
}

#[test]
fn pdb_keeps_one_pod_and_never_blocks_drains() {
    let pdb = one_of("PodDisruptionBudget");
    let min_available = int_of(&pdb["spec"]["minAvailable"], "minAvailable");
    assert_eq!(min_available, 1);
    let hpa = one_of("HorizontalPodAutoscaler");
    let min_replicas = int_of(&hpa["spec"]["minReplicas"], "minReplicas");
    assert!(
        min_available < min_replicas,
        "minAvailable {min_available} must be below minReplicas {min_replicas}, or node drains block"
    );
}

#[test]
fn hpa_scales_the_deployment_on_cpu() {
    let deployment = one_of("Deployment");
    let hpa = one_of("HorizontalPodAutoscaler");
    let spec = &hpa["spec"];
    let target = &spec["scaleTargetRef"];
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(target["apiVersion"], "apps/v1");
    assert_eq!(
        target["name"], deployment["metadata"]["name"],
        "HPA target name"
    );
    assert_eq!(int_of(&spec["minReplicas"], "minReplicas"), 2);
    assert_eq!(int_of(&spec["maxReplicas"], "maxReplicas"), 10);
    let replicas = int_of(&deployment["spec"]["replicas"], "replicas");
    assert!(
        (2..=10).contains(&replicas),
        "Deployment replicas {replicas} within the HPA range"
    );
    let cpu = spec["metrics"]
        .as_array()
        .expect("HPA metrics")
        .iter()
        .find(|m| m["type"] == "Resource" && m["resource"]["name"] == "cpu")
        .expect("a CPU metric");
    assert_eq!(cpu["resource"]["target"]["type"], "Utilization");
    assert_eq!(
        int_of(
            &cpu["resource"]["target"]["averageUtilization"],
            "averageUtilization"
        ),
        70
    );
}

// ---------------------------------------------------------------------------
// Tests: Dockerfile
// ---------------------------------------------------------------------------

#[test]
fn dockerfile_exposes_grpc_and_runs_as_non_root() {
    let instructions = dockerfile();
    let runtime = runtime_stage(&instructions);

    let exposed: BTreeSet<i64> = runtime
        .iter()
        .filter(|i| i.keyword == "EXPOSE")
        .flat_map(|i| i.args.split_whitespace())
        .map(|p| p.trim_end_matches("/tcp").parse().expect("EXPOSE port"))
        .collect();
    assert!(
        exposed.contains(&GRPC_PORT),
        "EXPOSE lists {GRPC_PORT}: {exposed:?}"
    );
    assert!(
        exposed.contains(&METRICS_PORT),
        "EXPOSE lists {METRICS_PORT}: {exposed:?}"
    );
    assert!(
        exposed.contains(&8080),
        "EXPOSE lists the HTTP port 8080: {exposed:?}"
    );

    // The last USER of the runtime stage wins; without one, the base image's
    // default must be non-root (distroless `:nonroot`).
    match runtime.iter().rev().find(|i| i.keyword == "USER") {
        Some(user) => {
            let name = user.args.split(':').next().unwrap_or_default();
            assert!(
                name != "root" && name != "0",
                "runtime USER {} is root",
                user.args
            );
            // The Deployment's runAsUser is the same uid.
            let deployment = one_of("Deployment");
            let uid = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
                .as_i64()
                .or(server_container(&deployment)["securityContext"]["runAsUser"].as_i64());
            if let (Ok(image_uid), Some(pod_uid)) = (name.parse::<i64>(), uid) {
                assert_eq!(image_uid, pod_uid, "image USER vs Deployment runAsUser");
            }
            assert_eq!(uid, Some(NONROOT_UID), "Deployment runAsUser");
        }
        None => assert!(
            runtime[0].args.contains(":nonroot"),
            "no USER and a base image that may run as root: {}",
            runtime[0].args
        ),
    }

    let entrypoint = runtime
        .iter()
        .rev()
        .find(|i| i.keyword == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    assert!(
        entrypoint.args.starts_with('[') && entrypoint.args.contains("leadscore-server"),
        "exec-form ENTRYPOINT running leadscore-server (so it gets SIGTERM): {}",
        entrypoint.args
    );
}

#[test]
fn dockerfile_builds_both_binaries_and_configures_the_server() {
    let instructions = dockerfile();
    let builds: Vec<&Instruction> = instructions
        .iter()
        .filter(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty(), "a RUN cargo build");
    let last = builds.last().unwrap();
    for needed in [
        "--release",
        "--locked",
        "--bin leadscore-server",
        "--bin leadscore-train",
    ] {
        assert!(
            last.args.contains(needed),
            "cargo build {needed}: {}",
            last.args
        );
    }

    let runtime = runtime_stage(&instructions);
    let env = dockerfile_env(runtime);
    let config = assert_server_accepts_env("Dockerfile ENV", &env);
    assert_eq!(
        config.models,
        PathBuf::from("/app/models"),
        "LEADSCORE_MODELS"
    );
    assert!(
        env.iter()
            .any(|(k, v)| k == "LEADSCORE_LOG_FORMAT" && v == "json"),
        "LEADSCORE_LOG_FORMAT=json"
    );
    assert!(
        runtime
            .iter()
            .any(|i| i.keyword == "COPY" && i.args.ends_with("models /app/models")),
        "the bundled models are copied to /app/models"
    );
}

/// The newest `rust-version` among the packages a Linux release build
/// compiles (leadscore's normal and build dependencies, transitively; not its
/// dev-dependencies), as (version, package), from `cargo metadata`.
fn newest_locked_rust_version() -> Option<(Vec<u64>, String)> {
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", "x86_64-unknown-linux-gnu"])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let packages: HashMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (str_of(&p["id"], "package id"), p))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .map(|n| (str_of(&n["id"], "node id"), n))
        .collect();
    let root = str_of(&meta["resolve"]["root"], "resolve root");
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    let mut newest: Option<(Vec<u64>, String)> = None;
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if id != root {
            let package = packages[id];
            if let Some(version) = package["rust_version"].as_str() {
                let version = parse_version(version);
                if newest.as_ref().is_none_or(|(v, _)| version > *v) {
                    let name = format!(
                        "{} {}",
                        str_of(&package["name"], "name"),
                        str_of(&package["version"], "version")
                    );
                    newest = Some((version, name));
                }
            }
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let not_dev_only = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"] != "dev");
            if not_dev_only {
                stack.push(str_of(&dep["pkg"], "dep pkg"));
            }
        }
    }
    newest
}

#[test]
fn dockerfile_rust_is_new_enough_for_the_locked_dependencies() {
    let instructions = dockerfile();
    let arg = instructions
        .iter()
        .find(|i| i.keyword == "ARG" && i.args.starts_with("RUST_VERSION="))
        .expect("ARG RUST_VERSION=... before the build stage");
    let image = parse_version(arg.args.trim_start_matches("RUST_VERSION="));

    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let crate_version = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version"))
        .map(|rest| {
            rest.trim()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"')
                .to_string()
        })
        .expect("Cargo.toml has rust-version");
    assert!(
        image >= parse_version(&crate_version),
        "Dockerfile RUST_VERSION {image:?} is older than Cargo.toml rust-version {crate_version}"
    );

    // cargo refuses to compile a crate whose rust-version is newer than rustc.
    if let Some((needed, package)) = newest_locked_rust_version() {
        assert!(
            image >= needed,
            "Dockerfile RUST_VERSION {image:?} is older than {package} needs ({needed:?}): bump ARG RUST_VERSION"
        );
    }
}
