"""The package list of the wheel (the rest of the metadata is in pyproject.toml).

`resources/` stays at the top of the checkout; in the wheel it becomes the package data of
`app._resources` (a folder mapped here), so an installed copy finds it next to `app/`
(`app/resources.py`). pyproject.toml cannot map a folder while also using `packages.find`.
"""

from setuptools import find_namespace_packages, setup

RESOURCES = "app._resources"

setup(
    packages=find_namespace_packages(include=["app*", "ui*", "devices*", "printing*"]) + [RESOURCES],
    package_dir={RESOURCES: "resources"},
    package_data={
        "app.db": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
        RESOURCES: ["**/*"],
    },
)
