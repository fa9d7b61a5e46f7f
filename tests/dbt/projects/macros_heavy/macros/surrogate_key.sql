{# Overrides parity_utils.default__surrogate_key through the project's dispatch search order. #}
{% macro duckdb__surrogate_key(columns) -%}
    md5(concat_ws('|', {% for column in columns %}coalesce(cast({{ column }} as varchar), '~'){{ ", " if not loop.last }}{% endfor %}))
{%- endmacro %}
