package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
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

	//监听用户是否活跃的channel
	isLive := make(chan bool)

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

			//用户的任意消息，代表当前用户是一个活跃的
			isLive <- true
		}
	}()

	//超时强制下线
	for {
		select {
		case <-isLive:
			//代表当前用户是活跃的，应该重置定时器
			//不做任何事，为了激活select，更新下面的定时器
		case <-time.After(10 * time.Second):
			//已经超时
			//将当前的User强制的关闭
			user.SendMsg("你被踢了\n")

			//关闭资源：不能直接调用offLine，否则上面的goroutine还会调用一次offLine
			close(user.C)
			user.conn.Close()
			close(isLive)

			//当前用户下线
			user.Offline()
			return
		}
	}
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
