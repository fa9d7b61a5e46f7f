{# Helpers in the way of dbt_utils: a private check that an argument is a Relation, a surrogate
   key over columns, and a label macro projects override through dispatch. #}
{% macro _require_relation(obj, macro) %}
    {%- if not (obj is mapping and obj.get('metadata', {}).get('type', '').endswith('Relation')) -%}
        {%- do exceptions.raise_compiler_error(macro ~ " needs a Relation, not " ~ obj) -%}
    {%- endif -%}
    {%- if obj.is_cte -%}
        {%- do exceptions.raise_compiler_error(macro ~ " cannot read an ephemeral model") -%}
    {%- endif -%}
{% endmacro %}

{% macro surrogate_key(relation, columns) %}
    {%- do parity_dates._require_relation(relation, 'surrogate_key') -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_null_')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{% endmacro %}

{% macro label(column) %}
    {{ return(adapter.dispatch('label', 'parity_dates')(column)) }}
{% endmacro %}

{% macro default__label(column) -%}
    lower({{ column }})
{%- endmacro %}
