//! `make test-scale`: with `SSO_BROKER_TEST_SCALE=nginx`, every test app is two broker instances
//! on one database (and Redis) behind Debian's nginx on loopback, balancing round robin, so
//! consecutive requests of one flow land on different instances.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether this run puts each test app behind a load balancer.
pub fn scale_mode() -> bool {
    std::env::var("SSO_BROKER_TEST_SCALE").is_ok_and(|v| v == "nginx")
}

/// nginx in front of `backends`, stopped when dropped.
pub struct LoadBalancer {
    pub port: u16,
    child: Child,
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LoadBalancer {
    pub fn start(dir: &Path, backends: &[u16]) -> LoadBalancer {
        let port = free_port();
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let servers: String = backends
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=0;\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\n\
             daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/tmp/body;\n\
               proxy_temp_path {d}/tmp/proxy;\n\
               fastcgi_temp_path {d}/tmp/fastcgi;\n\
               uwsgi_temp_path {d}/tmp/uwsgi;\n\
               scgi_temp_path {d}/tmp/scgi;\n\
               upstream brokers {{\n{servers}  }}\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 client_max_body_size 2m;\n\
                 location / {{\n\
                   proxy_pass http://brokers;\n\
                   proxy_http_version 1.1;\n\
                   proxy_set_header Connection \"\";\n\
                   proxy_set_header Host $http_host;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_next_upstream off;\n\
                   proxy_read_timeout 30s;\n\
                 }}\n\
               }}\n\
             }}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts (make test-scale installs nginx-light)");
        let lb = LoadBalancer { port, child };
        lb.wait_until_listening();
        lb
    }

    fn wait_until_listening(&self) {
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nginx did not listen on 127.0.0.1:{}", self.port);
    }
}

fn nginx() -> String {
    std::env::var("SSO_BROKER_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
