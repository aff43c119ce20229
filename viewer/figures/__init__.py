"""Pure Plotly figure builders, one module per server-drawn page (compare,
sql; the Replay page draws in the browser, viewer/player) over a shared
base; no Streamlit here, so each is testable and benchmarkable on its own."""
