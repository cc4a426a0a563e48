"""workspaces.yaml: what is accepted, and what each mistake is reported as."""

from pathlib import Path

import pytest

from workspaces.config import load_config
from workspaces.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "workspaces.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(i) for i in info.value.issues]


def test_the_example_config_is_valid():
    loaded = load_config(REPO / "config" / "workspaces.yaml")
    assert loaded.settings.backend == "local"
    assert loaded.settings.hub.ip == "127.0.0.1"


def test_the_kubernetes_example_config_is_valid():
    loaded = load_config(REPO / "config" / "workspaces-kubernetes.yaml")
    assert loaded.settings.backend == "kubernetes"
    assert loaded.settings.kubernetes.kubeflow and loaded.settings.kubernetes.istio


def test_defaults_listen_on_loopback_only():
    settings = load_config(None).settings
    assert settings.hub.ip == "127.0.0.1" and settings.hub.hub_ip == "127.0.0.1"


def test_an_empty_file_means_all_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).settings.hub.port == 8000


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    loaded = load_config(write(tmp_path, "catalog: sub/catalog.yaml\n"))
    assert loaded.resolve(loaded.settings.catalog) == tmp_path / "sub" / "catalog.yaml"


def test_unknown_key_is_named_with_the_allowed_keys(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  prot: 9000\n"))
    assert issue.startswith("hub.prot: unknown key; allowed keys: ip, port,")


def test_wrong_type_says_what_was_expected(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  port: eighty\n"))
    assert issue == "hub.port: must be an integer, not a string"


def test_out_of_range_port(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  port: 70000\n"))
    assert issue == "hub.port: must be <= 65535"


def test_unknown_backend_lists_the_backends(tmp_path):
    [issue] = issues_of(write(tmp_path, "backend: docker\n"))
    assert issue == "backend: must be one of: 'local', 'kubernetes'"


def test_kubeflow_and_a_namespace_template_exclude_each_other(tmp_path):
    [issue] = issues_of(write(tmp_path, "kubernetes:\n  kubeflow: true\n  namespace_template: ws-{username}\n"))
    assert "kubeflow and namespace_template exclude each other" in issue


def test_a_namespace_template_may_only_use_username(tmp_path):
    [issue] = issues_of(write(tmp_path, "kubernetes:\n  namespace_template: ws-{user}\n"))
    assert issue == "kubernetes: namespace_template may use only {username}"


def test_a_namespace_template_must_make_a_dns_label(tmp_path):
    [issue] = issues_of(write(tmp_path, "kubernetes:\n  namespace_template: WS_{username}\n"))
    assert "does not make a DNS-1123 label" in issue


@pytest.mark.parametrize("template", ["{username}", "ws"])
def test_a_namespace_template_needs_the_username_and_a_prefix_or_suffix(tmp_path, template):
    [issue] = issues_of(write(tmp_path, f"kubernetes:\n  namespace_template: '{template}'\n"))
    assert issue == "kubernetes: namespace_template must contain {username} and a prefix or suffix, e.g. ws-{username}"


def test_the_fixed_namespace_must_be_a_dns_label(tmp_path):
    [issue] = issues_of(write(tmp_path, "kubernetes:\n  namespace: My_NS\n"))
    assert "is not a DNS-1123 label" in issue


def test_ports_must_differ(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  port: 8081\n"))
    assert issue == "hub: port, hub_port and proxy_api_port must all differ"


def test_short_admin_password_is_refused(tmp_path):
    [issue] = issues_of(write(tmp_path, "auth:\n  admin_password: short\n"))
    assert issue.startswith("auth.admin_password: ")
    assert "32" in issue


def test_storage_default_above_max(tmp_path):
    [issue] = issues_of(write(tmp_path, "storage:\n  default_size: 200Gi\n  max_size: 100Gi\n"))
    assert issue == "storage: default_size 200Gi is larger than max_size 100Gi"


def test_storage_size_must_be_a_quantity(tmp_path):
    [issue] = issues_of(write(tmp_path, "storage:\n  max_size: lots\n"))
    assert issue.startswith("storage.max_size: must be a memory size such as 512Mi")


def test_catalog_must_be_a_path_or_a_mapping(tmp_path):
    [issue] = issues_of(write(tmp_path, "catalog: 5\n"))
    assert issue.startswith("catalog: must be the path of a catalog file or an inline mapping")


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, "hub:\n  port: [8000\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [line] = info.value.lines()
    assert line.startswith(f"{path}: line ")
    assert "invalid YAML" in line


def test_top_level_must_be_a_mapping(tmp_path):
    assert issues_of(write(tmp_path, "- a\n- b\n")) == ["must be a mapping of settings"]


def test_missing_file_is_a_config_error(tmp_path):
    [issue] = issues_of(tmp_path / "nope.yaml")
    assert issue.startswith("cannot read file")


def test_every_error_is_reported_not_just_the_first(tmp_path):
    issues = issues_of(write(tmp_path, "hub:\n  port: x\n  ip: 5\nnamed_server_limit_per_user: -1\n"))
    assert len(issues) == 3


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "workspaces.yaml"
    path.write_bytes(b"hub:\n  ip: \xff\xfe\n")
    assert issues_of(path) == ["not UTF-8 text (byte 11)"]


def test_culler_port_must_not_clash_with_the_hub(tmp_path):
    [issue] = issues_of(write(tmp_path, "culling:\n  port: 8000\n"))
    assert issue == "culling.port 8000 is also one of the hub's ports"


def test_a_missing_extra_config_is_named(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  extra_config: nope.py\n"))
    assert issue == f"hub.extra_config: no such file: {tmp_path / 'nope.py'}"


def test_header_auth_needs_the_trusted_gateway(tmp_path):
    [issue] = issues_of(write(tmp_path, "auth:\n  type: header\n"))
    assert issue == "auth: auth.type header needs auth.header with at least trusted_sources"


def test_a_trusted_source_must_be_an_address_or_cidr(tmp_path):
    text = "auth:\n  type: header\n  header:\n    trusted_sources: [10.0.0.1/8]\n"
    [issue] = issues_of(write(tmp_path, text))
    assert issue.startswith("auth.header.trusted_sources[0]: not an IP address or CIDR: 10.0.0.1/8 has host bits set")


def test_the_proxy_api_url_must_be_an_http_url(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  proxy_api_url: proxy:8001\n"))
    assert issue == "hub.proxy_api_url: must be an http:// or https:// URL, not 'proxy:8001'"


def test_the_subdomain_host_is_kept_as_scheme_host_and_port(tmp_path):
    loaded = load_config(write(tmp_path, "hub:\n  subdomain_host: HTTPS://Hub.Example.org:8443/\n"))
    assert loaded.settings.hub.subdomain_host == "https://hub.example.org:8443"


@pytest.mark.parametrize("value", ["hub.example.org", "https://hub.example.org/hub/", "ftp://hub.example.org", "https://hub.example.org:http"])
def test_the_subdomain_host_must_be_a_url_of_a_host_without_a_path(tmp_path, value):
    [issue] = issues_of(write(tmp_path, f"hub:\n  subdomain_host: '{value}'\n"))
    assert issue == (
        "hub.subdomain_host: must be a URL such as https://hub.example.org "
        f"(http:// or https://, a host name, an optional port, no path), not '{value}'"
    )


def test_the_subdomain_host_must_be_a_name_not_an_address(tmp_path):
    [issue] = issues_of(write(tmp_path, "hub:\n  subdomain_host: http://10.0.0.1:8000\n"))
    assert issue == "hub.subdomain_host: must name a host, not an IP address (servers live at <user>.<host>), not 'http://10.0.0.1:8000'"
