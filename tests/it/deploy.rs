//! Deployment files: the Dockerfile (hadolint and structure), docker-compose, Kubernetes
//! manifests, the systemd unit, and the healthcheck the image relies on.

use corbado_exporter::config::{ConfigFile, ProjectConfig};
use corbado_exporter::poller::Strategy;
use serde_json::Value;

use crate::helpers::{
    config, exporter, free_port, repo, run_tool, scratch_dir, settings, spawn_app, spawn_sim,
    tool_available,
};

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every document of a YAML file of the repository, read by the exporter's own YAML parser
/// into JSON values (which index the same way).
fn yaml_docs(path: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_dockerfile_is_multi_stage_pinned_locked_and_unprivileged() {
    let dockerfile = read("Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    for from in &froms {
        let image = from.split_whitespace().nth(1).expect("image");
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "{image} must be pinned"
        );
    }
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(dockerfile.contains("distroless"));
    assert!(
        dockerfile.lines().any(|l| l.starts_with("USER 65532")),
        "non-root user"
    );
    assert!(dockerfile.contains("EXPOSE 9877"));
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/corbado-exporter", "healthcheck"]"#));
    assert!(dockerfile.contains("org.opencontainers.image.source"));
    // The state directory, its user's own (the runtime stage has no shell to make it).
    assert!(dockerfile
        .contains("COPY --from=build --chown=65532:65532 /src/state /var/lib/corbado-exporter"));
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l == "target") && ignore.lines().any(|l| l == ".git"));

    if tool_available("hadolint") {
        run_tool("hadolint", &["Dockerfile"]);
    }
}

#[test]
fn docker_compose_is_valid_and_every_file_it_mounts_exists() {
    let compose = &yaml_docs("deploy/docker-compose.yml")[0];
    let services = compose["services"].as_object().expect("services");
    assert!(["exporter", "prometheus", "grafana"]
        .iter()
        .all(|s| services.contains_key(*s)));
    let command = compose["services"]["exporter"]["command"][0].as_str();
    assert_eq!(command, Some("--demo"));
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let host = volume
                .as_str()
                .expect("short volume syntax")
                .split(':')
                .next()
                .expect("host path");
            assert!(
                repo("deploy").join(host).exists(),
                "{name:?} mounts {host}, which is missing"
            );
        }
    }
    if tool_available("docker-compose") {
        run_tool(
            "docker-compose",
            &["-f", "deploy/docker-compose.yml", "config", "-q"],
        );
    }
}

/// Loads a config file of the repository with the exporter's own parser, its secret files
/// (under `secret_dir` in the file) replaced by files of a temporary folder.
fn load_example_projects(name: &str, yaml: &str, secret_dir: &str) -> Vec<ProjectConfig> {
    let scratch = scratch_dir(&format!("deploy-{name}"));
    let dir = scratch.path();
    let yaml = yaml.replace(secret_dir, &format!("{}/", dir.display()));
    for line in yaml.lines() {
        if let Some(path) = line.trim().strip_prefix("api_secret_file: ") {
            std::fs::write(path, "s3cr3t\n").expect("secret file");
        }
    }
    let path = dir.join("projects.yml");
    std::fs::write(&path, yaml).expect("config file");
    ConfigFile { path }
        .load(
            &settings("https://backendapi.cloud.corbado.io/v2", Strategy::Auto),
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_two_project_compose_example_loads_and_mounts_what_it_names() {
    let compose = &yaml_docs("deploy/docker-compose.projects.yml")[0];
    let exporter = &compose["services"]["exporter"];
    let command: Vec<&str> = exporter["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(command.contains(&"--config.file=/etc/corbado-exporter/projects.yml"));
    assert!(command.contains(&"--storage.path=/var/lib/corbado-exporter"));
    let volumes = compose["volumes"].as_object().expect("named volumes");
    assert!(
        volumes.contains_key("state"),
        "a named volume for the state"
    );
    let projects = load_example_projects(
        "compose",
        &read("deploy/compose/projects.yml"),
        "/run/secrets/",
    );
    assert_eq!(projects.len(), 2);
    let secrets = compose["secrets"].as_object().expect("secrets");
    for project in &projects {
        let name = project.id.replace("pro-", "corbado-");
        assert!(
            secrets.contains_key(name.as_str()),
            "{name} is a compose secret"
        );
    }
    if tool_available("docker-compose") {
        run_tool(
            "docker-compose",
            &["-f", "deploy/docker-compose.projects.yml", "config", "-q"],
        );
    }
}

#[test]
fn the_sharded_statefulset_reads_its_ordinal_and_every_project_has_its_secret() {
    let set = &yaml_docs("deploy/kubernetes/sharded/statefulset.yaml")[0];
    assert_eq!(set["kind"], "StatefulSet");
    let pod = &set["spec"]["template"]["spec"];
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--shard=auto"));
    let replicas = set["spec"]["replicas"].as_u64().expect("replicas");
    assert!(
        args.contains(&format!("--total-shards={replicas}").as_str()),
        "--total-shards equals replicas: {args:?}"
    );
    assert_eq!(
        pod["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/-/ready"
    );

    let service = &yaml_docs("deploy/kubernetes/sharded/service.yaml")[0];
    assert_eq!(service["spec"]["clusterIP"], "None", "headless");
    assert_eq!(set["spec"]["serviceName"], service["metadata"]["name"]);
    let monitor = &yaml_docs("deploy/kubernetes/sharded/podmonitor.yaml")[0];
    assert_eq!(monitor["kind"], "PodMonitor");
    assert_eq!(
        monitor["spec"]["podMetricsEndpoints"][0]["port"],
        "http-metrics"
    );

    let map = &yaml_docs("deploy/kubernetes/sharded/configmap.yaml")[0];
    let projects_yml = map["data"]["projects.yml"].as_str().expect("projects.yml");
    assert!(args.contains(&"--config.file=/etc/corbado-exporter/projects.yml"));
    let projects = load_example_projects("sharded", projects_yml, "/run/secrets/corbado/");
    let secret = &yaml_docs("deploy/kubernetes/sharded/secret.yaml")[0];
    let keys = secret["stringData"].as_object().expect("keys");
    for project in &projects {
        assert!(
            keys.contains_key(project.id.as_str()),
            "{} has a secret key",
            project.id
        );
    }
    let mounts = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert!(mounts
        .iter()
        .any(|m| m["mountPath"] == "/run/secrets/corbado"));
    assert!(mounts
        .iter()
        .any(|m| m["mountPath"] == "/etc/corbado-exporter"));
    // Each pod's state on a volume of its own, mounted where --storage.path points.
    assert!(args.contains(&"--storage.path=/var/lib/corbado-exporter"));
    let claim = &set["spec"]["volumeClaimTemplates"][0];
    let state = mounts
        .iter()
        .find(|m| m["mountPath"] == "/var/lib/corbado-exporter")
        .expect("the state volume is mounted");
    assert_eq!(state["name"], claim["metadata"]["name"]);
}

#[test]
fn kubernetes_manifests_parse_and_wire_probes_and_the_secret_file() {
    let mut kinds = Vec::new();
    for file in [
        "secret",
        "deployment",
        "service",
        "servicemonitor",
        "prometheusrule",
    ] {
        for doc in yaml_docs(&format!("deploy/kubernetes/{file}.yaml")) {
            assert!(doc["apiVersion"].is_string(), "{file}: apiVersion");
            kinds.push(doc["kind"].as_str().expect("kind").to_owned());
        }
    }
    assert_eq!(
        kinds,
        [
            "Secret",
            "Deployment",
            "Service",
            "ServiceMonitor",
            "PrometheusRule"
        ]
    );

    let deployment = &yaml_docs("deploy/kubernetes/deployment.yaml")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/-/ready");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let env = container["env"].as_array().expect("env");
    assert!(env.iter().any(|e| e["name"] == "CORBADO_API_SECRET_FILE"));
    assert!(
        !env.iter().any(|e| e["name"] == "CORBADO_API_SECRET"),
        "the secret goes in a file"
    );
    let volume = &deployment["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["secret"]["secretName"], "corbado-exporter");
    let state = &deployment["spec"]["template"]["spec"]["volumes"][1];
    assert!(state["emptyDir"].is_object(), "an emptyDir for the state");
    let args = container["args"].as_array().expect("args");
    assert!(args
        .iter()
        .any(|a| a == "--storage.path=/var/lib/corbado-exporter"));
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    assert!(mounts
        .iter()
        .any(|m| m["name"] == state["name"] && m["mountPath"] == "/var/lib/corbado-exporter"));
}

#[test]
fn the_prometheus_rule_carries_the_same_rules_as_the_rule_files() {
    let rule = &yaml_docs("deploy/kubernetes/prometheusrule.yaml")[0];
    let mut expected: Vec<Value> = Vec::new();
    for file in ["prometheus/recording.yml", "prometheus/alerts.yml"] {
        let doc = &yaml_docs(file)[0];
        expected.extend(doc["groups"].as_array().expect("groups").iter().cloned());
    }
    // The operator names the job after the Service.
    let text = serde_json::to_string(&expected)
        .expect("json")
        .replace(r#"job=\"corbado\""#, r#"job=\"corbado-exporter\""#)
        .replace(r#"job="corbado""#, r#"job="corbado-exporter""#);
    let expected: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(rule["spec"]["groups"], expected);
}

#[test]
fn the_systemd_unit_verifies() {
    if !tool_available("systemd-analyze") {
        return;
    }
    let scratch = scratch_dir("systemd-unit");
    let dir = scratch.path();
    let unit = read("deploy/systemd/corbado-exporter.service").replace(
        "/usr/local/bin/corbado-exporter",
        env!("CARGO_BIN_EXE_corbado-exporter"),
    );
    let path = dir.join("corbado-exporter.service");
    std::fs::write(&path, unit).expect("write");
    let socket = dir.join("corbado-exporter.socket");
    std::fs::write(&socket, read("deploy/systemd/corbado-exporter.socket")).expect("write");
    let said = run_tool(
        "systemd-analyze",
        &[
            "verify",
            path.to_str().expect("UTF-8 path"),
            socket.to_str().expect("UTF-8 path"),
        ],
    );
    for unit in ["corbado-exporter.service:", "corbado-exporter.socket:"] {
        assert!(!said.contains(unit), "remarks on {unit} {said}");
    }
    let unit = read("deploy/systemd/corbado-exporter.service");
    assert!(unit.contains("StateDirectory=corbado-exporter"));
    assert!(unit.contains("Environment=CORBADO_EXPORTER_STORAGE_PATH=%S/corbado-exporter"));
}

#[tokio::test]
async fn the_healthcheck_subcommand_says_healthy_or_not_by_its_exit_code() {
    let sim = spawn_sim(100, 1).await;
    let app = spawn_app(config(&sim.api_url(), Strategy::Scan)).await;
    let url = app.url("/-/healthy");
    let ok = tokio::task::spawn_blocking(move || {
        exporter(&["healthcheck", "--url", &url])
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    assert_eq!(ok.status.code(), Some(0));

    let closed = format!("http://127.0.0.1:{}/-/healthy", free_port());
    let down = exporter(&["healthcheck", "--url", &closed, "--timeout", "2s"])
        .output()
        .expect("runs");
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).starts_with("unhealthy:"));
}
