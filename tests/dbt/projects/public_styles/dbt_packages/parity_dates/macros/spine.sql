{# A day spine in the way of dbt_utils and dbt_date: the number of days is counted by a statement. #}
{% macro day_spine(start_date, end_date) %}
    {{ return(adapter.dispatch('day_spine', 'parity_dates')(start_date, end_date)) }}
{% endmacro %}

{% macro default__day_spine(start_date, end_date) %}
    {%- call statement('days_between', fetch_result=True) -%}
        select {{ dbt.datediff(start_date, end_date, 'day') }}
    {%- endcall -%}
    {%- set result = load_result('days_between') -%}
    {#- no result while dbt parses (execute is false) -#}
    {%- set days = result['data'][0][0] if result and result['data'] else 0 -%}
    select {{ dbt.dateadd('day', 'n', start_date) }} as date_day
    from ({{ parity_dates._numbers(days + 1) }}) as numbers
{% endmacro %}

{% macro _numbers(count) -%}
    {% for i in range(count) %}select {{ i }} as n{% if not loop.last %} union all {% endif %}{% endfor %}
{%- endmacro %}
