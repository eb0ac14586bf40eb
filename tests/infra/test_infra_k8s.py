"""infra/k8s: every manifest against the Kubernetes API schemas (kubernetes-validate, strict:
unknown fields fail), the Dask operator's resources by their CRD's required fields with their
pod and service specs validated as core objects, and the rules of the platform: resources
everywhere, GPUs requested by the GPU group, credentials referenced and never inlined.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.command_lines import check_command

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra/k8s"
VERSION = "1.33.0"  # the oldest Kubernetes the manifests must load on
DASK_KINDS = {"DaskCluster", "DaskWorkerGroup", "DaskAutoscaler"}
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|AUTH", re.I)


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in documents() if d["kind"] == kind]


def base_job_template() -> dict[str, Any]:
    return json.loads((K8S / "prefect-base-job-template.json").read_text())


def rendered_job(template: dict[str, Any]) -> dict[str, Any]:
    """The job manifest with every ``{{ variable }}`` replaced by its default or an example,
    as the Prefect worker renders it for a flow run."""
    defaults = {k: v.get("default") for k, v in template["variables"]["properties"].items()}
    examples = {"name": "nightly-ingest-abc", "command": "prefect flow-run execute",
                "env": [{"name": "PREFECT__FLOW_RUN_ID", "value": "0"}],
                "labels": {"prefect.io/flow-run-id": "0"}, "job_watch_timeout_seconds": 600,
                "cluster_config": None}
    values = {**defaults, **{k: v for k, v in examples.items() if k in defaults}}

    def render(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: render(v) for k, v in node.items()}
        if isinstance(node, list):
            return [render(v) for v in node]
        if isinstance(node, str):
            whole = re.fullmatch(r"\{\{ (\w+) \}\}", node)
            if whole:
                value = values[whole.group(1)]
                return value.split() if whole.group(1) == "command" else value
            return re.sub(r"\{\{ (\w+) \}\}", lambda m: str(values[m.group(1)]), node)
        return node

    return render(template["job_configuration"]["job_manifest"])


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """Every pod spec the manifests define, with where it is from."""
    specs = []
    for name, doc in documents():
        where = f"{name}:{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "Job"):
            specs.append((where, doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "DaskCluster":
            specs.append((f"{where} scheduler", doc["spec"]["scheduler"]["spec"]))
            specs.append((f"{where} worker", doc["spec"]["worker"]["spec"]))
        elif doc["kind"] == "DaskWorkerGroup":
            specs.append((f"{where} worker", doc["spec"]["worker"]["spec"]))
    job = rendered_job(base_job_template())
    pod = {k: v for k, v in job["spec"]["template"]["spec"].items()
           if k not in ("parallelism", "completions")}  # see the base job template test
    specs.append(("prefect-base-job-template.json", pod))
    return specs


def validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def as_pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": spec}


@pytest.mark.parametrize("where, doc", [(f"{n}:{d['kind']}/{d['metadata']['name']}", d)
                                        for n, d in documents() if d["kind"] not in DASK_KINDS])
def test_core_resources_match_the_kubernetes_schema(where: str, doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["metadata"].get("namespace", "ocr") == "ocr" or doc["kind"] == "Namespace", where


def test_strict_validation_catches_a_misspelt_field() -> None:
    (deployment,) = by_kind("Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_dask_operator_resources_have_their_required_fields() -> None:
    (cluster,) = by_kind("DaskCluster")
    (group,) = by_kind("DaskWorkerGroup")
    (autoscaler,) = by_kind("DaskAutoscaler")
    for doc in (cluster, group, autoscaler):
        assert doc["apiVersion"] == "kubernetes.dask.org/v1"
    name = cluster["metadata"]["name"]
    spec = cluster["spec"]
    assert set(spec) <= {"idleTimeout", "scheduler", "worker"}
    assert {"spec", "service"} <= set(spec["scheduler"]) and "spec" in spec["worker"]
    assert isinstance(spec["worker"]["replicas"], int)
    assert set(group["spec"]) == {"cluster", "worker"} and group["spec"]["cluster"] == name
    assert isinstance(group["spec"]["worker"]["replicas"], int)
    a = autoscaler["spec"]
    assert set(a) == {"cluster", "minimum", "maximum"} and a["cluster"] == name
    assert 1 <= a["minimum"] <= spec["worker"]["replicas"] <= a["maximum"]
    # Their embedded specs are core objects: validate them as such, strictly.
    validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-scheduler"},
              "spec": spec["scheduler"]["service"]})
    for pod in (spec["scheduler"]["spec"], spec["worker"]["spec"], group["spec"]["worker"]["spec"]):
        validate(as_pod(pod))


def test_the_scheduler_address_is_the_operators_service() -> None:
    (cluster,) = by_kind("DaskCluster")
    (settings,) = by_kind("ConfigMap")
    service = f"{cluster['metadata']['name']}-scheduler.{cluster['metadata']['namespace']}"
    assert settings["data"]["OCR_DASK_ADDRESS"] == f"tcp://{service}.svc.cluster.local:8786"
    ports = {p["name"]: p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]}
    assert ports["tcp-comm"] == 8786


@pytest.mark.parametrize("where, spec", pod_specs())
def test_every_container_has_requests_and_limits(where: str, spec: dict[str, Any]) -> None:
    for container in spec["containers"] + spec.get("initContainers", []):
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{where}: {kind}"
        assert container.get("securityContext", {}).get("allowPrivilegeEscalation") is False
    assert spec.get("securityContext", {}).get("runAsNonRoot") is True, where


def test_gpu_workers_request_one_gpu_each_and_declare_it() -> None:
    (group,) = by_kind("DaskWorkerGroup")
    (container,) = group["spec"]["worker"]["spec"]["containers"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    args = container["args"]
    assert args[args.index("--resources") + 1] == "GPU=1"
    assert args[args.index("--nthreads") + 1] == "1" and "--nworkers" not in args
    assert container["image"].endswith("-gpu")
    tolerations = group["spec"]["worker"]["spec"]["tolerations"]
    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    (cluster,) = by_kind("DaskCluster")
    for part in ("scheduler", "worker"):
        for c in cluster["spec"][part]["spec"]["containers"]:
            assert "nvidia.com/gpu" not in json.dumps(c["resources"]), part
            assert c["image"].endswith("-cpu") and "--resources" not in c["args"], part


def test_credentials_are_referenced_never_inlined() -> None:
    assert not by_kind("Secret"), "no Secret with values in the repository"
    for where, spec in pod_specs():
        for container in spec["containers"]:
            for env in container.get("env", []) or []:
                if SECRET_WORDS.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], where
    for settings in by_kind("ConfigMap"):
        assert not [k for k in settings.get("data", {}) if SECRET_WORDS.search(k)]
    # Every pod that touches S3 gets the keys from the Secret ocr-s3.
    for where, spec in pod_specs():
        for container in spec["containers"]:
            if container["name"] in ("worker", "prefect-job"):
                refs = [e.get("secretRef", {}).get("name") for e in container.get("envFrom", [])]
                assert "ocr-s3" in refs, where


def test_prefect_worker_pool_template_and_deploy_job_agree() -> None:
    (worker,) = by_kind("Deployment")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    pool = args[args.index("--pool") + 1]
    assert args[args.index("--type") + 1] == "kubernetes"
    template_path = args[args.index("--base-job-template") + 1]
    (mount,) = container["volumeMounts"]
    assert template_path.startswith(mount["mountPath"] + "/")
    (volume,) = worker["spec"]["template"]["spec"]["volumes"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (generated,) = kustomization["configMapGenerator"]
    assert generated["name"] == volume["configMap"]["name"]
    key, source = generated["files"][0].split("=")
    assert template_path.endswith("/" + key) and (K8S / source).is_file()
    (job,) = by_kind("Job")
    job_args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert job_args[job_args.index("--pool") + 1] == pool
    prefect_yaml = yaml.safe_load((REPO / "deployments/prefect.yaml").read_text())
    assert prefect_yaml["definitions"]["work_pools"]["kubernetes"]["name"] == pool
    accounts = {d["metadata"]["name"] for d in by_kind("ServiceAccount")}
    assert worker["spec"]["template"]["spec"]["serviceAccountName"] in accounts
    defaults = base_job_template()["variables"]["properties"]
    assert defaults["service_account_name"]["default"] in accounts
    assert defaults["namespace"]["default"] == "ocr"


def test_base_job_template_declares_every_variable_and_renders_a_valid_job() -> None:
    template = base_job_template()
    used = set(re.findall(r"\{\{ (\w+) \}\}", json.dumps(template["job_configuration"])))
    declared = set(template["variables"]["properties"])
    assert used <= declared, used - declared
    job = rendered_job(template)
    # Prefect's Kubernetes worker refuses a template without these two keys in the pod spec
    # (prefect_kubernetes.worker._get_base_job_manifest), where they are no PodSpec fields:
    # the API server drops them. Everything else must be valid, strictly.
    pod = job["spec"]["template"]["spec"]
    assert (pod.pop("parallelism"), pod.pop("completions")) == (1, 1)
    validate(job)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("where, spec", pod_specs())
def test_container_commands_parse(where: str, spec: dict[str, Any]) -> None:
    for container in spec["containers"]:
        args = container.get("command", []) + container.get("args", [])
        if args and args != ["prefect", "flow-run", "execute"]:  # the worker's own command
            check_command([a.replace("$(DASK_WORKER_NAME)", "w") for a in args], where)
