"""The built-in front ends (Thrift RPC and HTTP), registered through the front-end hook."""
