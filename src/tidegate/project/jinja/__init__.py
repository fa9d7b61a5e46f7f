"""Jinja rendering of models, tests and macros, with dbt's functions.

A model is rendered once, at load time, with `ref()` producing placeholders: the SQL that gets
fingerprinted does not depend on any environment, and compiling it for an environment is a cheap
substitution of relation names (see :mod:`tidegate.plan.compile`).

`renderer` holds a project's Jinja environment and renders a file with it; `functions` are
tidegate's own functions of the context (`ref`, `source`, `config`, `var`, `env_var`...),
`nodes` dbt's `this` and `model`, `statements` dbt's `run_query`; `macros` are the project's,
dbt's and the packages' macros; `frames` what a render produced and the files being rendered;
`runtime` the Jinja classes that make dbt's `return()` work, `errors` how a failed render is
reported, `bytecode` the compiled templates kept between loads. Templates without Jinja
statements skip Jinja altogether (`tidegate.project.plain`); the objects of dbt's context that
linting and generic tests share are `tidegate.project.dbt_context`.
"""

from tidegate.project.jinja.frames import Rendered, ref_names
from tidegate.project.jinja.renderer import Renderer
from tidegate.project.jinja.settings import DbtSettings

__all__ = ["DbtSettings", "Rendered", "Renderer", "ref_names"]
