"""iFlytek Spark (讯飞星火) WebSocket chat: the I/O-free protocol layer and the adapter."""
