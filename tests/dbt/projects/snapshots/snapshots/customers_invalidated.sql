{# dbt before 1.9 spelled hard_deletes: invalidate as invalidate_hard_deletes=true #}
{% snapshot customers_invalidated %}
{{ config(
    unique_key='id',
    strategy='timestamp',
    updated_at='updated_at',
    invalidate_hard_deletes=true,
) }}

select id, tier, updated_at from {{ source('crm', 'customers') }}

{% endsnapshot %}
