{# Seeds go to the schema they name, everything else to the target's (jaffle-shop's rule). #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if node.resource_type == 'seed' and custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
