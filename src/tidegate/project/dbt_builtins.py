"""dbt's own macros, as tidegate renders them: the naming macros and the cross-database macros
(`dbt.dateadd`, `dbt.type_string`, `dbt.date_spine`...) that packages such as dbt_utils and
dbt_date call, with the DuckDB and PostgreSQL variants their adapters use.

They are written here from dbt's documented behaviour, not copied: each `name` dispatches to
`<adapter>__name`, then `default__name`, so a project's own `duckdb__dateadd` still wins (see
`Renderer.dispatch`). `api.Column` gives the type names dbt's `Column.translate_type` gives.
"""

from __future__ import annotations

from typing import Any

from tidegate.project.model import REF_PREFIX, THIS_PLACEHOLDER

BUILTINS_PATH = "<dbt builtins>"

_DISPATCHED = {
    # name: the arguments, as the dispatching macro declares and passes them
    "any_value": ("expression", "expression"),
    "bool_or": ("expression", "expression"),
    "cast": ("field, type", "field, type"),
    "cast_bool_to_text": ("field", "field"),
    "concat": ("fields", "fields"),
    "date": ("year, month, day", "year, month, day"),
    "date_trunc": ("datepart, date", "datepart, date"),
    "dateadd": ("datepart, interval, from_date_or_timestamp", "datepart, interval, from_date_or_timestamp"),
    "datediff": ("first_date, second_date, datepart", "first_date, second_date, datepart"),
    "equals": ("expr1, expr2", "expr1, expr2"),
    "escape_single_quotes": ("expression", "expression"),
    "except": ("", ""),
    "intersect": ("", ""),
    "generate_series": ("upper_bound", "upper_bound"),
    "get_powers_of_two": ("upper_bound", "upper_bound"),
    "get_intervals_between": ("start_date, end_date, datepart", "start_date, end_date, datepart"),
    "date_spine": ("datepart, start_date, end_date", "datepart, start_date, end_date"),
    "hash": ("field", "field"),
    "last_day": ("date, datepart", "date, datepart"),
    "length": ("expression", "expression"),
    "listagg": (
        "measure, delimiter_text=\"','\", order_by_clause=none, limit_num=none",
        "measure, delimiter_text, order_by_clause, limit_num",
    ),
    "position": ("substring_text, string_text", "substring_text, string_text"),
    "replace": ("field, old_chars, new_chars", "field, old_chars, new_chars"),
    "right": ("string_text, length_expression", "string_text, length_expression"),
    "safe_cast": ("field, type", "field, type"),
    "split_part": ("string_text, delimiter_text, part_number", "string_text, delimiter_text, part_number"),
    "string_literal": ("value", "value"),
    "array_append": ("array, new_element", "array, new_element"),
    "array_concat": ("array_1, array_2", "array_1, array_2"),
    "array_construct": ("inputs=[], data_type='integer'", "inputs, data_type"),
    "type_string": ("", ""),
    "type_timestamp": ("", ""),
    "type_float": ("", ""),
    "type_numeric": ("", ""),
    "type_bigint": ("", ""),
    "type_int": ("", ""),
    "type_boolean": ("", ""),
    "current_timestamp": ("", ""),
    "current_timestamp_backcompat": ("", ""),
    "current_timestamp_in_utc_backcompat": ("", ""),
    "snapshot_get_time": ("", ""),
}


def _dispatchers() -> str:
    return "".join(
        f"{{% macro {name}({declared}) -%}}"
        f"{{{{ return(adapter.dispatch('{name}', 'dbt')({passed})) }}}}"
        "{%- endmacro %}\n"
        for name, (declared, passed) in _DISPATCHED.items()
    )


_NAMING = """\
{% macro default__generate_schema_name(custom_schema_name, node) -%}
    {%- set default_schema = target.schema -%}
    {%- if custom_schema_name is none -%}
        {{ default_schema }}
    {%- else -%}
        {{ default_schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ return(default__generate_schema_name(custom_schema_name, node)) }}
{%- endmacro %}
{% macro default__generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif node.version -%}
        {{ return(node.name ~ "_v" ~ (node.version | replace(".", "_"))) }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {{ return(default__generate_alias_name(custom_alias_name, node)) }}
{%- endmacro %}
"""

# The default (ANSI-ish) forms, then what dbt-duckdb and dbt-postgres use instead.
_DEFAULTS = """\
{% macro default__any_value(expression) -%} any_value({{ expression }}) {%- endmacro %}
{% macro default__bool_or(expression) -%} bool_or({{ expression }}) {%- endmacro %}
{% macro default__cast(field, type) -%} cast({{ field }} as {{ type }}) {%- endmacro %}
{% macro default__safe_cast(field, type) -%} cast({{ field }} as {{ type }}) {%- endmacro %}
{% macro default__cast_bool_to_text(field) -%}
    cast({{ field }} as {{ api.Column.translate_type('string') }})
{%- endmacro %}
{% macro default__concat(fields) -%} {{ fields | join(' || ') }} {%- endmacro %}
{% macro default__date(year, month, day) -%}
    to_date('{{ modules.datetime.date(year, month, day).strftime('%Y-%m-%d') }}', 'YYYY-MM-DD')
{%- endmacro %}
{% macro default__date_trunc(datepart, date) -%} date_trunc('{{ datepart }}', {{ date }}) {%- endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
    dateadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
{% macro default__datediff(first_date, second_date, datepart) -%}
    datediff({{ datepart }}, {{ first_date }}, {{ second_date }})
{%- endmacro %}
{% macro default__equals(expr1, expr2) -%} ({{ expr1 }} = {{ expr2 }}) {%- endmacro %}
{% macro default__escape_single_quotes(expression) -%}{{ expression | replace("'", "''") }}{%- endmacro %}
{% macro default__except() %} except {% endmacro %}
{% macro default__intersect() %} intersect {% endmacro %}
{% macro default__hash(field) -%}
    md5(cast({{ field }} as {{ api.Column.translate_type('string') }}))
{%- endmacro %}
{% macro default_last_day(date, datepart) -%}
    cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro %}
{% macro default__last_day(date, datepart) -%}{{ dbt.default_last_day(date, datepart) }}{%- endmacro %}
{% macro default__length(expression) -%} length({{ expression }}) {%- endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
    array_to_string(array_slice(array_agg({{ measure }})
        {%- if order_by_clause %} within group ({{ order_by_clause }}){% endif %}, 0, {{ limit_num }}),
        {{ delimiter_text }})
    {%- else -%}
    listagg({{ measure }}, {{ delimiter_text }})
        {%- if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
    {%- endif -%}
{%- endmacro %}
{% macro default__position(substring_text, string_text) -%}
    position({{ substring_text }} in {{ string_text }})
{%- endmacro %}
{% macro default__replace(field, old_chars, new_chars) -%}
    replace({{ field }}, {{ old_chars }}, {{ new_chars }})
{%- endmacro %}
{% macro default__right(string_text, length_expression) -%}
    right({{ string_text }}, {{ length_expression }})
{%- endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) -%}
    split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}
{% macro _split_part_negative(string_text, delimiter_text, part_number) -%}
    split_part({{ string_text }}, {{ delimiter_text }},
        length({{ string_text }}) - length(replace({{ string_text }}, {{ delimiter_text }}, ''))
        + 2 + {{ part_number }})
{%- endmacro %}
{% macro default__string_literal(value) -%} '{{ value }}' {%- endmacro %}
{% macro default__array_append(array, new_element) -%}
    array_append({{ array }}, {{ new_element }})
{%- endmacro %}
{% macro default__array_concat(array_1, array_2) -%} array_cat({{ array_1 }}, {{ array_2 }}) {%- endmacro %}
{% macro default__array_construct(inputs, data_type) -%}
    {%- if inputs | length > 0 -%} array[ {{ inputs | join(' , ') }} ]
    {%- else -%} array[]::{{ data_type }}[] {%- endif -%}
{%- endmacro %}
{% macro default__type_string() %}{{ return(api.Column.translate_type('string')) }}{% endmacro %}
{% macro default__type_timestamp() %}{{ return(api.Column.translate_type('timestamp')) }}{% endmacro %}
{% macro default__type_float() %}{{ return(api.Column.translate_type('float')) }}{% endmacro %}
{% macro default__type_numeric() %}{{ return(api.Column.numeric_type('numeric', 28, 6)) }}{% endmacro %}
{% macro default__type_bigint() %}{{ return(api.Column.translate_type('bigint')) }}{% endmacro %}
{% macro default__type_int() %}{{ return(api.Column.translate_type('integer')) }}{% endmacro %}
{% macro default__type_boolean() %}{{ return(api.Column.translate_type('boolean')) }}{% endmacro %}
{% macro default__current_timestamp() -%}
    {{ exceptions.raise_not_implemented('current_timestamp is not implemented for ' ~ adapter.type()) }}
{%- endmacro %}
{% macro default__current_timestamp_backcompat() -%} current_timestamp::timestamp {%- endmacro %}
{% macro default__current_timestamp_in_utc_backcompat() -%}
    {{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{%- endmacro %}
{% macro default__snapshot_get_time() -%} {{ current_timestamp() }} {%- endmacro %}
{% macro default__get_powers_of_two(upper_bound) -%}
    {%- if upper_bound <= 0 -%}{{ exceptions.raise_compiler_error("upper bound must be positive") }}{%- endif -%}
    {%- for _ in range(1, 100) -%}
        {%- if upper_bound <= 2 ** loop.index -%}{{ return(loop.index) }}{%- endif -%}
    {%- endfor -%}
{%- endmacro %}
{% macro default__generate_series(upper_bound) %}
    {% set n = dbt.get_powers_of_two(upper_bound) %}
    with p as (select 0 as generated_number union all select 1),
    unioned as (
        select
        {% for i in range(n) %} p{{ i }}.generated_number * power(2, {{ i }}){% if not loop.last %} +{% endif %}{% endfor %}
        + 1 as generated_number
        from {% for i in range(n) %}p as p{{ i }}{% if not loop.last %} cross join {% endif %}{% endfor %}
    )
    select * from unioned where generated_number <= {{ upper_bound }} order by generated_number
{% endmacro %}
{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
    {%- call statement('get_intervals_between', fetch_result=True) -%}
        select {{ dbt.datediff(start_date, end_date, datepart) }}
    {%- endcall -%}
    {%- set result = load_result('get_intervals_between') -%}
    {%- if result and result['data'] -%}
        {{ return(result['data'][0][0]) }}
    {%- else -%}
        {{ return(1) }}
    {%- endif -%}
{%- endmacro %}
{% macro default__date_spine(datepart, start_date, end_date) %}
    with rawdata as (
        {{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}
    ),
    all_periods as (
        select ({{ dbt.dateadd(datepart, "row_number() over (order by 1) - 1", start_date) }})
            as date_{{ datepart }}
        from rawdata
    ),
    filtered as (select * from all_periods where date_{{ datepart }} <= {{ end_date }})
    select * from filtered
{% endmacro %}
"""


def _last_day(adapter: str) -> str:
    """dbt-duckdb's and dbt-postgres's `last_day`, the same macro: a quarter's last day is the
    day before the next quarter starts (their `default_last_day` would add one quarter's
    interval, which neither engine has)."""
    return (
        f"{{% macro {adapter}__last_day(date, datepart) -%}}\n"
        """    {%- if datepart == 'quarter' -%}
        cast({{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
    {%- else -%}
        {{ dbt.default_last_day(date, datepart) }}
    {%- endif -%}
{%- endmacro %}
"""
    )


_DUCKDB = (
    """\
{% macro duckdb__any_value(expression) -%} arbitrary({{ expression }}) {%- endmacro %}
{% macro duckdb__date(year, month, day) -%} make_date({{ year }}, {{ month }}, {{ day }}) {%- endmacro %}
{% macro duckdb__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- set unit = datepart | lower -%}
    {%- if unit == 'quarter' -%}
        ({{ from_date_or_timestamp }} + (cast({{ interval }} as bigint) * 3) * interval 1 month)
    {%- elif unit == 'week' -%}
        ({{ from_date_or_timestamp }} + (cast({{ interval }} as bigint) * 7) * interval 1 day)
    {%- else -%}
        ({{ from_date_or_timestamp }} + cast({{ interval }} as bigint) * interval 1 {{ unit }})
    {%- endif -%}
{%- endmacro %}
{% macro duckdb__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'week' -%}
        ({{ datediff(first_date, second_date, 'day') }} // 7 + case
            when date_part('dow', ({{ first_date }})::timestamp) <= date_part('dow', ({{ second_date }})::timestamp)
            then case when {{ first_date }} <= {{ second_date }} then 0 else -1 end
            else case when {{ first_date }} <= {{ second_date }} then 1 else 0 end
        end)
    {%- else -%}
        (date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp))
    {%- endif -%}
{%- endmacro %}
{% macro duckdb__generate_series(upper_bound) -%}
    select generate_series as generated_number from generate_series(1, {{ upper_bound }})
{%- endmacro %}
"""
    + _last_day("duckdb")
    + """{% macro duckdb__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        list_aggr((array_agg({{ measure }} {{ order_by_clause or '' }}))[1:{{ limit_num }}],
            'string_agg', {{ delimiter_text }})
    {%- else -%}
        string_agg({{ measure }}, {{ delimiter_text }} {{ order_by_clause or '' }})
    {%- endif -%}
{%- endmacro %}
{% macro duckdb__split_part(string_text, delimiter_text, part_number) -%}
    string_split({{ string_text }}, {{ delimiter_text }})[ {{ part_number }} ]
{%- endmacro %}
{% macro duckdb__current_timestamp() -%} now() {%- endmacro %}
{% macro duckdb__snapshot_get_time() -%} {{ current_timestamp() }}::timestamp {%- endmacro %}
"""
)

_POSTGRES = (
    """\
{% macro postgres__any_value(expression) -%} min({{ expression }}) {%- endmacro %}
{% macro postgres__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {{ from_date_or_timestamp }} + ((interval '1 {{ datepart }}') * ({{ interval }}))
{%- endmacro %}
{% macro postgres__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'year' -%}
        (date_part('year', ({{ second_date }})::date) - date_part('year', ({{ first_date }})::date))
    {%- elif datepart == 'quarter' -%}
        ({{ datediff(first_date, second_date, 'year') }} * 4
         + date_part('quarter', ({{ second_date }})::date) - date_part('quarter', ({{ first_date }})::date))
    {%- elif datepart == 'month' -%}
        ({{ datediff(first_date, second_date, 'year') }} * 12
         + date_part('month', ({{ second_date }})::date) - date_part('month', ({{ first_date }})::date))
    {%- elif datepart == 'day' -%}
        (({{ second_date }})::date - ({{ first_date }})::date)
    {%- elif datepart == 'week' -%}
        ({{ datediff(first_date, second_date, 'day') }} / 7 + case
            when date_part('dow', ({{ first_date }})::timestamp) <= date_part('dow', ({{ second_date }})::timestamp)
            then case when {{ first_date }} <= {{ second_date }} then 0 else -1 end
            else case when {{ first_date }} <= {{ second_date }} then 1 else 0 end
        end)
    {%- elif datepart == 'hour' -%}
        ({{ datediff(first_date, second_date, 'day') }} * 24
         + date_part('hour', ({{ second_date }})::timestamp) - date_part('hour', ({{ first_date }})::timestamp))
    {%- elif datepart == 'minute' -%}
        ({{ datediff(first_date, second_date, 'hour') }} * 60
         + date_part('minute', ({{ second_date }})::timestamp) - date_part('minute', ({{ first_date }})::timestamp))
    {%- elif datepart == 'second' -%}
        ({{ datediff(first_date, second_date, 'minute') }} * 60
         + floor(date_part('second', ({{ second_date }})::timestamp))
         - floor(date_part('second', ({{ first_date }})::timestamp)))
    {%- elif datepart == 'millisecond' -%}
        ({{ datediff(first_date, second_date, 'minute') }} * 60000
         + floor(date_part('millisecond', ({{ second_date }})::timestamp))
         - floor(date_part('millisecond', ({{ first_date }})::timestamp)))
    {%- elif datepart == 'microsecond' -%}
        ({{ datediff(first_date, second_date, 'minute') }} * 60000000
         + floor(date_part('microsecond', ({{ second_date }})::timestamp))
         - floor(date_part('microsecond', ({{ first_date }})::timestamp)))
    {%- else -%}
        {{ exceptions.raise_compiler_error("unsupported datepart for datediff on postgres: " ~ datepart) }}
    {%- endif -%}
{%- endmacro %}
"""
    + _last_day("postgres")
    + """{% macro postgres__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        array_to_string((array_agg({{ measure }} {{ order_by_clause or '' }}))[1:{{ limit_num }}],
            {{ delimiter_text }})
    {%- else -%}
        string_agg({{ measure }}, {{ delimiter_text }} {{ order_by_clause or '' }})
    {%- endif -%}
{%- endmacro %}
{% macro postgres__split_part(string_text, delimiter_text, part_number) -%}
    {%- if part_number >= 0 -%}
        {{ dbt.default__split_part(string_text, delimiter_text, part_number) }}
    {%- else -%}
        {{ dbt._split_part_negative(string_text, delimiter_text, part_number) }}
    {%- endif -%}
{%- endmacro %}
{% macro postgres__current_timestamp() -%} now() {%- endmacro %}
{% macro postgres__current_timestamp_backcompat() -%} current_timestamp::{{ type_timestamp() }} {%- endmacro %}
{% macro postgres__current_timestamp_in_utc_backcompat() -%}
    (current_timestamp at time zone 'utc')::{{ type_timestamp() }}
{%- endmacro %}
{% macro postgres__snapshot_get_time() -%} {{ current_timestamp() }}::timestamp without time zone {%- endmacro %}
"""
)

BUILTIN_MACROS = _NAMING + _dispatchers() + _DEFAULTS + _DUCKDB + _POSTGRES


class Column:
    """dbt's `api.Column`: the type names `dbt.type_string()` and the like return."""

    TYPE_LABELS = {"STRING": "TEXT"}

    @classmethod
    def translate_type(cls, dtype: str) -> str:
        return cls.TYPE_LABELS.get(str(dtype).upper(), str(dtype))

    @classmethod
    def numeric_type(cls, dtype: str, precision: Any, scale: Any) -> str:
        if precision is None or scale is None:
            return str(dtype)
        return f"{dtype}({precision},{scale})"

    @classmethod
    def string_type(cls, size: int) -> str:
        return f"character varying({size})"


class Table:
    """What `run_query` and `load_result(...)['table']` give in dbt (an agate table), as far as
    macros read it: rows by position, columns by position or name with `values()`."""

    def __init__(self, column_names: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.column_names = tuple(column_names)
        self.rows = [_Row(self.column_names, row) for row in rows]
        self.columns = _Columns(
            [_TableColumn(name, [row[i] for row in rows]) for i, name in enumerate(column_names)]
        )

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Any:
        return self.rows[index]

    def print_table(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Row(tuple):
    """A row: a tuple whose values can also be read by column name."""

    _names: tuple[str, ...]

    def __new__(cls, names: tuple[str, ...], values: tuple[Any, ...]) -> _Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)


class _TableColumn:
    def __init__(self, name: str, values: list[Any]) -> None:
        self.name = name
        self._values = values

    def values(self) -> tuple[Any, ...]:
        return tuple(self._values)


class _Columns(list):
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return next(column for column in self if column.name == key)
        return super().__getitem__(key)


def relations_read(sql: str, dialect: str) -> list[str] | None:
    """The tables and files a query reads (CTEs and generate_series/range/unnest do not count);
    None when the text is not one query tidegate can parse."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError:
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None
    query = statements[0]
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    read = []
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.GenerateSeries | exp.Unnest):
            continue
        if isinstance(table.this, exp.Identifier) and not table.db and table.name.lower() in ctes:
            continue
        name = table.name.lower()
        if name.startswith(REF_PREFIX):  # the placeholder of ref('x'), as the user wrote it
            read.append(f"ref('{name.removeprefix(REF_PREFIX)}')")
        elif name == THIS_PLACEHOLDER:
            read.append("this")
        else:
            read.append(table.sql(dialect=dialect))
    return read


class ConstantQueries:
    """Queries that read no table (date arithmetic, as in `dbt_utils.date_spine`), run in a
    private in-memory DuckDB: their answer does not depend on the warehouse, so tidegate can
    know it when it renders the project. Other dialects are transpiled to DuckDB's."""

    def __init__(self, dialect: str) -> None:
        self._dialect = dialect
        self._connection: Any = None
        self._results: dict[str, Table] = {}

    def run(self, sql: str) -> Table:
        if sql not in self._results:
            self._results[sql] = self._execute(sql)
        return self._results[sql]

    def _execute(self, sql: str) -> Table:
        import duckdb

        text = sql
        if self._dialect != "duckdb":
            import sqlglot

            text = sqlglot.transpile(sql, read=self._dialect, write="duckdb")[0]
        if self._connection is None:
            self._connection = duckdb.connect(":memory:")
        cursor = self._connection.execute(text)
        names = [d[0] for d in cursor.description or []]
        return Table(names, [tuple(row) for row in cursor.fetchall()])

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
