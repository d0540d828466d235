"""The layers know only the ones below them (docs/architecture.md): every
include and import arrow points down. Read from the source tree, so a new
upward arrow fails here before it confuses a reader."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which components each component's sources may include (its own included).
MAY_INCLUDE = {
    "transport": {"transport"},
    "messaging": {"transport", "messaging"},
    "spawner": {"transport", "spawner"},
    "shim": {"transport", "spawner", "shim"},
}


def _owner_of_public_headers() -> dict[str, str]:
    owners = {}
    for component in MAY_INCLUDE:
        for header in (ROOT / component).glob("include/shmring/*.hpp"):
            owners[f"shmring/{header.name}"] = component
    return owners


def _sources(component: str, *, host_programs: bool = False):
    for path in sorted((ROOT / component).rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        if "host" in path.relative_to(ROOT / component).parts and not host_programs:
            continue  # spawner/host: a C++ program above the spawner, an example of a host
        yield path


@pytest.mark.parametrize("component", sorted(MAY_INCLUDE))
def test_public_headers_are_included_only_from_the_same_or_a_higher_layer(component):
    owners = _owner_of_public_headers()
    wrong = []
    for path in _sources(component):
        for header in re.findall(r'#include "(shmring/[a-z_]+\.hpp)"', path.read_text()):
            owner = owners.get(header)
            if owner is None:
                wrong.append(f"{path.relative_to(ROOT)}: {header} is no component's public header")
            elif owner not in MAY_INCLUDE[component]:
                wrong.append(f"{path.relative_to(ROOT)} includes {header} of {owner}/, which is not below {component}/")
    assert not wrong, "\n".join(wrong)


def test_no_layer_reaches_into_another_layers_private_sources():
    wrong = []
    for component in MAY_INCLUDE:
        for path in _sources(component, host_programs=True):
            for included in re.findall(r'#include "([^"]+)"', path.read_text()):
                if "/" in included and not included.startswith("shmring/"):
                    wrong.append(f"{path.relative_to(ROOT)} includes {included}")
    assert not wrong, "\n".join(wrong)


def test_the_spawner_names_no_python_module_of_shmrings_package():
    # The runner is named by the layer above (spawner.hpp: SpawnerOptions).
    wrong = []
    for path in _sources("spawner"):
        for line_number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            if re.search(r'"shmring\.[a-z_.]+', code):
                wrong.append(f"{path.relative_to(ROOT)}:{line_number}: {line.strip()}")
    assert not wrong, "\n".join(wrong)
