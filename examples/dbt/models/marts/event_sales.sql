-- One row per event that sold tickets: a table, rebuilt by every `dbt run`.
select
    e.event_id,
    e.event_name,
    e.category_group,
    e.venue_city,
    count(*) as sales,
    sum(s.quantity) as tickets_sold,
    sum(s.price_paid) as revenue
from {{ ref('stg_sales') }} as s
join {{ ref('stg_events') }} as e on e.event_id = s.event_id
group by 1, 2, 3, 4
