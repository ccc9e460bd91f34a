// A throwaway PKI for TLS tests, made with the OpenSSL API at test start: a CA, a server
// certificate (SAN IP:127.0.0.1) and client certificates (CN = user, O = groups), EC P-256.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace plexus::test {

struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};

class CertificateAuthority {
 public:
  explicit CertificateAuthority(const std::string& common_name);
  ~CertificateAuthority();
  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;

  const std::string& cert_pem() const noexcept { return cert_pem_; }

  KeyAndCert issue_server(const std::string& common_name, const std::vector<std::string>& ip_sans,
                          const std::vector<std::string>& dns_sans = {}) const;
  KeyAndCert issue_client(const std::string& common_name,
                          const std::vector<std::string>& organizations = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string cert_pem_;
};

}  // namespace plexus::test
