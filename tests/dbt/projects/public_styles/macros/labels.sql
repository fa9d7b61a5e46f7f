{# Overrides the package's default__label: the dispatch search order lists this project first. #}
{% macro default__label(column) -%}
    upper({{ column }})
{%- endmacro %}
