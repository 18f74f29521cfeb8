"""Business rules shared by REST controllers, the Socket.IO namespace and the CLI.

Services own transactions: they commit, or roll back and raise an ApiError.
"""
