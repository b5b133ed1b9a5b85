-- Singular test: the mart's revenue adds up to the replicated sales (rows returned = failures).
with mart as (select sum(revenue) as revenue from {{ ref('event_sales') }}),
     raw as (select sum(pricepaid) as revenue from {{ source('tickit', 'sales') }})
select mart.revenue, raw.revenue
from mart cross join raw
where mart.revenue <> raw.revenue
