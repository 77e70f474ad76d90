"""A reply's text as it streams, in work per token that does not grow with the reply.

    detok    IncrementalDetokenizer: token ids -> raw text deltas (small windows, half UTF-8 characters held)
    reply    ReplyText, ReplyDecoder: raw text -> the deltas to show (process_response, hold-back, stop strings)
    stops    StopCutter and find_stop: the one stop-string rule of the bots, the server and remote bots
"""

from .detok import IncrementalDetokenizer
from .reply import ReplyDecoder, ReplyText
from .stops import StopCutter, clean_stops, find_stop

__all__ = ["IncrementalDetokenizer", "ReplyDecoder", "ReplyText", "StopCutter", "clean_stops", "find_stop"]
