{% macro cents_to_dollars(column, scale=2) -%}
    {{ return(adapter.dispatch('cents_to_dollars')(column, scale)) }}
{%- endmacro %}

{% macro default__cents_to_dollars(column, scale) -%}
    round(({{ column }}) / 100.0, {{ scale }})
{%- endmacro %}

{% macro duckdb__cents_to_dollars(column, scale) -%}
    round(cast({{ column }} as decimal(18, 4)) / 100, {{ scale }})
{%- endmacro %}
