package main

import (
	"fmt"
	"io"
	"net"
	"sync"
)

type Server struct {
	Ip   string
	Port int

	//在线用户 map
	OnlineUserMap map[string]*User
	mapLock       sync.RWMutex

	//消息广播的channel
	Message chan string
}

// 创建一个server的接口
func NewServer(ip string, port int) *Server {
	server := &Server{
		Ip:            ip,
		Port:          port,
		OnlineUserMap: make(map[string]*User),
		Message:       make(chan string),
	}
	return server
}

// 监听广播channel Message，一旦其中有消息，就广播给所有用户
func (this *Server) ListenMessager() {
	for {
		msg := <-this.Message

		//将msg发送给所有在线的user
		this.mapLock.Lock()
		for _, cli := range this.OnlineUserMap {
			cli.C <- msg
		}
		this.mapLock.Unlock()
	}
}

// 广播消息的方法
func (this *Server) BroadCast(user *User, msg string) {
	sendMsg := "[" + user.Attr + "]" + user.Name + ": " + msg

	this.Message <- sendMsg
}

// 业务处理器handler
func (this *Server) Handler(conn net.Conn) {
	//当前链接的业务

	user := NewUser(conn, this)

	//用户上线业务
	user.Online()

	//接收客户端发送的消息
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			// n == 0：代表阻塞读取的正常退出
			if n == 0 {
				//用户下线业务
				user.Offline()
				return
			}

			if err != nil && err != io.EOF {
				fmt.Println("Conn Read err: ", err)
				return
			}

			//提取用户消息（去掉'\n'）
			msg := string(buf[:n-1])
			//将消息广播
			user.DoMessage(msg)
		}
	}()

	//阻塞当前handler，否则goroutine结束
	select {}

}

// 启动服务器的接口
func (this *Server) Start() {
	//server listen
	listener, err := net.Listen("tcp", fmt.Sprintf("%s:%d", this.Ip, this.Port))
	if err != nil {
		fmt.Println("net.Listen err: ", err)
		return
	}
	//close listener socket
	defer listener.Close()

	//启动监听Message的goroutine
	go this.ListenMessager()

	fmt.Println("server listening...")

	for {
		//accept
		conn, err := listener.Accept()
		if err != nil {
			fmt.Println("listener accept err: ", err)
			continue
		}

		//do handler
		go this.Handler(conn)
	}
}
