{# Custom schemas are used as they are, without the target schema as a prefix. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{# Models named m_<name> are published as <name>. #}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif node.name.startswith('m_') -%}
        {{ node.name[2:] }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}
