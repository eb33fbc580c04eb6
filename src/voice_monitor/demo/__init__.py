"""The demo: synthetic events (`data`, walking artifacts through `pipeline`) landed and rolled up
by every flow as the schedules would (`run`)."""
