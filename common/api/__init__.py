"""What every API endpoint shares: the error body and its schema, query-parameter
validation and the request throttles."""
