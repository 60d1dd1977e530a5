use super::*;

#[test]
fn a_boxed_rpc_error_is_sent_as_it_is_and_anything_else_as_a_middleware_error() {
    let refused = RpcError::application(-32001, "unauthorized", Value::Null);
    assert_eq!(rpc_error_of(refused.clone().into()), refused);
    let io = std::io::Error::other("bucket empty");
    let e = rpc_error_of(io.into());
    assert_eq!(e.code, crate::codes::INTERNAL_ERROR);
    assert_eq!(e.data["name"], "MiddlewareError");
    assert_eq!(e.data["message"], "bucket empty");
}

#[test]
fn a_client_error_passes_through_and_a_layer_error_is_middleware() {
    let stopped = Error::Transport(crate::TransportError::Stopped);
    assert!(matches!(
        client_error_of(stopped.into()),
        Error::Transport(crate::TransportError::Stopped)
    ));
    let e = client_error_of(std::io::Error::other("shed").into());
    assert!(matches!(e, Error::Middleware(_)), "{e:?}");
    assert!(e.to_string().contains("shed"), "{e}");
}
