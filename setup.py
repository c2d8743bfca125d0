"""The package list of the wheel (the rest of the metadata is in pyproject.toml).

`resources/` stays at the top of the checkout; in the wheel it becomes the package data of
`app._resources` (a folder mapped here), so an installed copy finds it next to `app/`
(`app/resources.py`). pyproject.toml cannot map a folder while also using `packages.find`.
"""

from setuptools import find_namespace_packages, setup

RESOURCES = "app._resources"
ROOTS = ("app", "ui", "devices", "printing")
# Searched inside each root only: a search from the top walked every folder of the checkout, and a
# Wine prefix left there by the Windows build (dist-windows/, whose z: drive links to /) made it walk
# the whole file system.
PACKAGES = [*ROOTS, *(f"{root}.{name}" for root in ROOTS
                      for name in find_namespace_packages(where=root, exclude=["*__pycache__*", "__pycache__"]))]

setup(
    packages=PACKAGES + [RESOURCES],
    package_dir={RESOURCES: "resources"},
    package_data={
        "app.db": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
        RESOURCES: ["**/*"],
    },
)
