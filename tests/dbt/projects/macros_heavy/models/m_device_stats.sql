{{ config(schema='analytics') }}

{#- The devices are read from the warehouse at compile time (dbt_utils.get_column_values style). -#}
{%- set devices = column_values(ref('raw_events'), 'device') -%}

select
    event_type,
    {% for device in devices -%}
    {{ parity_utils.safe_divide(
        "sum(case when device = '" ~ device ~ "' then value end)",
        "count(*)"
    ) }} as {{ device }}_value_per_event,
    {% endfor -%}
    count(*) as events
from {{ ref('stg_events') }}
group by event_type
