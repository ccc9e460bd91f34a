#include "test_pki.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace plexus::test {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct X509Deleter {
  void operator()(X509* cert) const noexcept { X509_free(cert); }
};
using Cert = std::unique_ptr<X509, X509Deleter>;
struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;
struct ExtensionDeleter {
  void operator()(X509_EXTENSION* extension) const noexcept { X509_EXTENSION_free(extension); }
};
using Extension = std::unique_ptr<X509_EXTENSION, ExtensionDeleter>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

Pkey new_key() {
  // EVP_EC_gen is a macro with a C cast; call what it expands to.
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

std::string drain(BIO* bio) {
  std::string out;
  char chunk[4096];
  for (int read = BIO_read(bio, chunk, sizeof chunk); read > 0;
       read = BIO_read(bio, chunk, sizeof chunk)) {
    out.append(chunk, static_cast<size_t>(read));
  }
  return out;
}

std::string key_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return drain(bio.get());
}

std::string pem_of(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return drain(bio.get());
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) == 1,
        "X509_NAME_add_entry_by_txt");
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  Extension extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  check(extension != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, extension.get(), -1) == 1, "X509_add_ext");
}

// A certificate for `key`, named `subject`, signed by (issuer, issuer_key); self-signed when
// issuer is null. Valid from an hour ago (clock skew) for a day.
Cert make_cert(EVP_PKEY* key, X509_NAME* subject, X509* issuer, EVP_PKEY* issuer_key,
               const std::vector<std::pair<int, std::string>>& extensions) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  unsigned char serial_bytes[16];
  check(RAND_bytes(serial_bytes, sizeof serial_bytes) == 1, "RAND_bytes");
  serial_bytes[0] &= 0x7f;  // positive
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  check(serial != nullptr && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr,
        "serial");
  BN_free(serial);
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) != nullptr, "notAfter");
  check(X509_set_subject_name(cert.get(), subject) == 1, "X509_set_subject_name");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1,
        "X509_set_issuer_name");
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  for (const auto& [nid, value] : extensions) add_extension(cert.get(), signer, nid, value);
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
        "X509_sign");
  return cert;
}

struct NameDeleter {
  void operator()(X509_NAME* name) const noexcept { X509_NAME_free(name); }
};
using Name = std::unique_ptr<X509_NAME, NameDeleter>;

}  // namespace

struct CertificateAuthority::Impl {
  Pkey key;
  Cert cert;
};

CertificateAuthority::CertificateAuthority(const std::string& common_name)
    : impl_(std::make_unique<Impl>()) {
  impl_->key = new_key();
  Name subject(X509_NAME_new());
  check(subject != nullptr, "X509_NAME_new");
  add_name_entry(subject.get(), "CN", common_name);
  impl_->cert = make_cert(impl_->key.get(), subject.get(), nullptr, nullptr,
                          {{NID_basic_constraints, "critical,CA:TRUE"},
                           {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
                           {NID_subject_key_identifier, "hash"}});
  cert_pem_ = pem_of(impl_->cert.get());
}

CertificateAuthority::~CertificateAuthority() = default;
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;

KeyAndCert CertificateAuthority::issue_server(const std::string& common_name,
                                              const std::vector<std::string>& ip_sans,
                                              const std::vector<std::string>& dns_sans) const {
  Pkey key = new_key();
  Name subject(X509_NAME_new());
  check(subject != nullptr, "X509_NAME_new");
  add_name_entry(subject.get(), "CN", common_name);
  std::string sans;
  for (const auto& ip : ip_sans) sans += (sans.empty() ? "" : ",") + std::string("IP:") + ip;
  for (const auto& dns : dns_sans) sans += (sans.empty() ? "" : ",") + std::string("DNS:") + dns;
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_authority_key_identifier, "keyid"}};
  if (!sans.empty()) extensions.emplace_back(NID_subject_alt_name, sans);
  Cert cert = make_cert(key.get(), subject.get(), impl_->cert.get(), impl_->key.get(), extensions);
  return {key_pem(key.get()), pem_of(cert.get())};
}

KeyAndCert CertificateAuthority::issue_client(const std::string& common_name,
                                              const std::vector<std::string>& organizations) const {
  Pkey key = new_key();
  Name subject(X509_NAME_new());
  check(subject != nullptr, "X509_NAME_new");
  for (const auto& organization : organizations) add_name_entry(subject.get(), "O", organization);
  add_name_entry(subject.get(), "CN", common_name);
  Cert cert = make_cert(key.get(), subject.get(), impl_->cert.get(), impl_->key.get(),
                        {{NID_basic_constraints, "critical,CA:FALSE"},
                         {NID_key_usage, "critical,digitalSignature"},
                         {NID_ext_key_usage, "clientAuth"},
                         {NID_authority_key_identifier, "keyid"}});
  return {key_pem(key.get()), pem_of(cert.get())};
}

}  // namespace plexus::test
