use super::*;

#[test]
fn host_of_strips_port_and_brackets() {
    assert_eq!(host_of("b1.example:9092"), "b1.example");
    assert_eq!(host_of("127.0.0.1:9092"), "127.0.0.1");
    assert_eq!(host_of("[::1]:9092"), "::1");
    assert_eq!(host_of("noport"), "noport");
}

#[test]
fn rustls_causes_map_to_what_a_user_can_fix() {
    let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let host = "b1.example";
    assert!(matches!(
        classify(
            &io(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName
            )),
            host
        ),
        Some(TlsFailure::HostNameMismatch { .. })
    ));
    assert!(matches!(
        classify(
            &io(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )),
            host
        ),
        Some(TlsFailure::ServerNotTrusted(_))
    ));
    assert!(matches!(
        classify(
            &io(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            )),
            host
        ),
        Some(TlsFailure::ClientCertificateRefused(_))
    ));
    assert_eq!(
        classify(&std::io::Error::other("plain I/O"), host),
        None,
        "an error without a TLS cause is not a TLS failure"
    );
}

#[test]
fn an_empty_private_root_list_is_refused() {
    assert!(matches!(
        TlsConfig::new(Roots::Only(Vec::new()), None),
        Err(TlsConfigError::BadRootCa(_))
    ));
}
