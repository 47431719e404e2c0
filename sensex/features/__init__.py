"""Features: TA-Lib indicators per stock, market context, labels and 60-session windows."""
