//! Key derivation and record decryption against published vectors: the
//! RFC 8448 §3 TLS 1.3 trace (traffic keys and IVs from its secrets, and
//! its application data records decrypted byte for byte) and the TLS 1.2
//! PRF vector circulated on the IETF TLS list (msg03416).

use super::*;
use crate::proto::tls::suites::suite;
use crate::test_util::hex;

const SERVER_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
const CLIENT_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
const SERVER_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

#[test]
fn rfc8448_traffic_keys() {
    let h = Hash::Sha256;
    assert_eq!(
        expand_label(h, &hex(SERVER_HS), "key", &[], 16),
        hex("3fce516009c21727d0f2e4e86ee403bc")
    );
    assert_eq!(
        expand_label(h, &hex(SERVER_HS), "iv", &[], 12),
        hex("5d313eb2671276ee13000b30")
    );
    assert_eq!(
        expand_label(h, &hex(CLIENT_AP), "key", &[], 16),
        hex("17422dda596ed5d9acd890e3c63f5051")
    );
    assert_eq!(
        expand_label(h, &hex(CLIENT_AP), "iv", &[], 12),
        hex("5b78923dee08579033e523d9")
    );
    // "tls13 derived" from the early secret (RFC 8448 §3), over the empty hash.
    let empty = hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let early = hex("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a");
    assert_eq!(
        expand_label(h, &early, "derived", &empty, 32),
        hex("6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba")
    );
    // Derive-Secret(handshake secret, "s hs traffic", Hash(CH..SH)).
    let hs = hex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac");
    let th = hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
    assert_eq!(
        expand_label(h, &hs, "s hs traffic", &th, 32),
        hex(SERVER_HS)
    );
}

fn split(record: &[u8]) -> ([u8; 5], Vec<u8>) {
    (record[..5].try_into().unwrap(), record[5..].to_vec())
}

#[test]
fn rfc8448_application_records_decrypt() {
    let s = suite(0x1301).unwrap();
    let payload: Vec<u8> = (0u8..=0x31).collect();
    let mut client = tls13_keys(s, &hex(CLIENT_AP)).unwrap();
    let (h, mut body) = split(&hex(
        "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4",
    ));
    let (ctype, range) = client.open(h, &mut body).unwrap();
    assert_eq!((ctype, &body[range]), (23, &payload[..]));
    assert_eq!(client.seq, 1);
    // The server's is its second record (the NewSessionTicket was first).
    let mut server = tls13_keys(s, &hex(SERVER_AP)).unwrap();
    let (h, body) = split(&hex(
        "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d",
    ));
    assert_eq!(
        server.open(h, &mut body.clone()),
        Err(Failure::Auth),
        "sequence 0 is wrong"
    );
    assert_eq!(server.seq, 0);
    let mut b = body.clone();
    let (ctype, range) = server.open_at(1, h, &mut b).unwrap();
    assert_eq!((ctype, &b[range]), (23, &payload[..]));
    // A flipped bit fails authentication.
    let mut bad = body;
    bad[3] ^= 1;
    assert_eq!(server.open_at(1, h, &mut bad), Err(Failure::Auth));
}

#[test]
fn key_update_derives_the_next_secret() {
    let s = suite(0x1301).unwrap();
    let mut k = tls13_keys(s, &hex(CLIENT_AP)).unwrap();
    k.seq = 7;
    assert!(k.update());
    assert_eq!(k.seq, 0, "a new generation starts at sequence 0");
    assert_eq!(
        k.secret,
        expand_label(Hash::Sha256, &hex(CLIENT_AP), "traffic upd", &[], 32)
    );
}

#[test]
fn tls12_prf_vector() {
    let out = prf12(
        Hash::Sha256,
        &hex("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        &hex("a0ba9f936cda311827a6f796ffd5198c"),
        100,
    );
    assert_eq!(
        out,
        hex("e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66")
    );
}

#[test]
fn short_and_misaligned_records_fail_cleanly() {
    let s = suite(0xc030).unwrap();
    let (mut c, _) = tls12_keys(s, Version::Tls12, &[1; 48], &[2; 32], &[3; 32], false).unwrap();
    for len in [0, 7, 8, 23, 24, 40] {
        let mut body = vec![0u8; len];
        assert!(c.open([23, 3, 3, 0, len as u8], &mut body).is_err());
    }
    let s = suite(0x002f).unwrap();
    for v in [Version::Ssl30, Version::Tls10, Version::Tls12] {
        for etm in [false, true] {
            let (mut c, _) = tls12_keys(s, v, &[1; 48], &[2; 32], &[3; 32], etm).unwrap();
            for len in [0, 15, 16, 17, 31, 32, 48, 64] {
                let mut body = vec![0u8; len];
                assert!(
                    c.open([23, 3, 1, 0, len as u8], &mut body).is_err(),
                    "{v:?} {len}"
                );
            }
        }
    }
}
