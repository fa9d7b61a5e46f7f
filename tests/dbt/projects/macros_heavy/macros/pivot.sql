{#- One aggregated column per value: sum(<then>) where <column> = value. -#}
{% macro pivot_sum(column, values, then='1', suffix='') -%}
    {%- for value in values %}
    sum(case when {{ column }} = '{{ value }}' then {{ then }} else 0 end) as {{ value | lower | replace(' ', '_') }}{{ suffix }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- The distinct values of a column, read from the warehouse when the model is compiled. -#}
{% macro column_values(relation, column) -%}
    {%- set query -%}
        select distinct {{ column }} from {{ relation }} order by 1
    {%- endset -%}
    {%- if execute -%}
        {{ return(run_query(query).columns[0].values() | list) }}
    {%- else -%}
        {{ return([]) }}
    {%- endif -%}
{%- endmacro %}
