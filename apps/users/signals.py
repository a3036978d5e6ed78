"""Facts about users that other apps act on."""

from django.dispatch import Signal

# A trader's self-exclusion started or was extended (user_id, until). Sent inside the
# transaction that set it: receivers' writes (stopping the trader's bots) commit with it.
self_exclusion_started = Signal()

# Sessions of a trader were ended from Settings > Security ("sign out everywhere else"):
# user_id, session_keys. Sent after the sessions are deleted; their sockets close.
sessions_ended = Signal()
