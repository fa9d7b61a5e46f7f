{# dbt_utils' pattern: the package dispatches, and a project may override per adapter. #}
{% macro surrogate_key(columns) -%}
    {{ return(adapter.dispatch('surrogate_key', 'parity_utils')(columns)) }}
{%- endmacro %}

{% macro default__surrogate_key(columns) -%}
    md5({% for column in columns %}coalesce(cast({{ column }} as varchar), '_null_'){% if not loop.last %} || '-' || {% endif %}{% endfor %})
{%- endmacro %}
