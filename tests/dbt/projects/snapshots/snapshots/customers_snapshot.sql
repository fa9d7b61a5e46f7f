{% snapshot customers_snapshot %}
{{ config(
    unique_key='id',
    strategy='timestamp',
    updated_at='updated_at',
) }}

select id, email, tier, updated_at from {{ source('crm', 'customers') }}

{% endsnapshot %}
