"""The TICKIT sample analytical queries, after the examples in Redshift's documentation.

Written to run unchanged on MariaDB/MySQL (default database = the TICKIT database) and on DuckDB
and the SQL endpoint (default schema = the replicated TICKIT schema): unqualified table names,
CONCAT instead of `||` (which is OR in MySQL's default sql_mode), explicit aliases on derived
tables, window functions both support, and a total ORDER BY (ties broken by id) so every engine
returns the same rows in the same order.
"""

from __future__ import annotations

SAMPLE_QUERIES: list[tuple[str, str]] = [
    (
        "Top 5 sellers in San Diego by tickets sold in 2008",
        """SELECT sellerid, username, CONCAT(firstname, ' ', lastname) AS name, city,
       SUM(qtysold) AS tickets
FROM sales, date, users
WHERE sales.sellerid = users.userid
  AND sales.dateid = date.dateid
  AND year = 2008
  AND city = 'San Diego'
GROUP BY sellerid, username, firstname, lastname, city
ORDER BY tickets DESC, sellerid
LIMIT 5""",
    ),
    (
        "Top 10 buyers by quantity",
        """SELECT firstname, lastname, total_quantity
FROM (SELECT buyerid, SUM(qtysold) AS total_quantity
      FROM sales
      GROUP BY buyerid
      ORDER BY total_quantity DESC, buyerid
      LIMIT 10) AS q, users
WHERE q.buyerid = users.userid
ORDER BY q.total_quantity DESC, q.buyerid""",
    ),
    (
        "Events in the 99.9th percentile of sales",
        """SELECT eventname, total_price
FROM (SELECT eventid, total_price,
             NTILE(1000) OVER (ORDER BY total_price DESC, eventid) AS percentile
      FROM (SELECT eventid, SUM(pricepaid) AS total_price
            FROM sales
            GROUP BY eventid) AS s) AS q, event
WHERE q.eventid = event.eventid
  AND percentile = 1
ORDER BY total_price DESC, q.eventid""",
    ),
    (
        "Sales by date",
        """SELECT caldate, SUM(qtysold) AS tickets, SUM(pricepaid) AS revenue
FROM sales, date
WHERE sales.dateid = date.dateid
GROUP BY caldate
ORDER BY caldate""",
    ),
    (
        "Tickets sold on 2008-01-05",
        """SELECT SUM(qtysold) AS tickets
FROM sales, date
WHERE sales.dateid = date.dateid
  AND caldate = '2008-01-05'""",
    ),
    (
        "Total sales by category",
        """SELECT catgroup, catname, SUM(qtysold) AS tickets, SUM(pricepaid) AS revenue
FROM sales, event, category
WHERE sales.eventid = event.eventid
  AND event.catid = category.catid
GROUP BY catgroup, catname
ORDER BY revenue DESC, catname""",
    ),
    (
        "Revenue and commission by quarter and month",
        """SELECT qtr, month, SUM(pricepaid) AS revenue, SUM(commission) AS commission
FROM sales, date
WHERE sales.dateid = date.dateid
GROUP BY qtr, month
ORDER BY MIN(caldate)""",
    ),
    (
        "Top 10 venues by tickets sold",
        """SELECT venue.venueid, venuename, venuecity, venuestate, SUM(qtysold) AS tickets
FROM sales, event, venue
WHERE sales.eventid = event.eventid
  AND event.venueid = venue.venueid
GROUP BY venue.venueid, venuename, venuecity, venuestate
ORDER BY tickets DESC, venue.venueid
LIMIT 10""",
    ),
    (
        "Holiday versus ordinary days: average daily tickets",
        """SELECT holiday, COUNT(DISTINCT caldate) AS days, SUM(qtysold) AS tickets
FROM sales, date
WHERE sales.dateid = date.dateid
GROUP BY holiday
ORDER BY holiday""",
    ),
    (
        "Unsold listings by category",
        """SELECT catname, COUNT(*) AS unsold_listings, SUM(numtickets) AS unsold_tickets
FROM listing, event, category
WHERE listing.eventid = event.eventid
  AND event.catid = category.catid
  AND NOT EXISTS (SELECT 1 FROM sales WHERE sales.listid = listing.listid)
GROUP BY catname
ORDER BY unsold_listings DESC, catname""",
    ),
    (
        "Top 10 states by sellers' commission",
        """SELECT state, COUNT(DISTINCT sellerid) AS sellers, SUM(commission) AS commission
FROM sales, users
WHERE sales.sellerid = users.userid
GROUP BY state
ORDER BY commission DESC, state
LIMIT 10""",
    ),
    (
        "Users who like both sports and theatre, by state",
        """SELECT state, COUNT(*) AS users
FROM users
WHERE likesports = 1 AND liketheatre = 1
GROUP BY state
ORDER BY users DESC, state
LIMIT 10""",
    ),
]
