import re

# The signed-in home (the dashboard), where signing in and confirming an email address land.
HOME = re.compile(r"^https?://[^/]+/$")
