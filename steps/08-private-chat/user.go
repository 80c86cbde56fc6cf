package main

import (
	"net"
	"strings"
)

type User struct {
	Name string
	Attr string
	C    chan string
	conn net.Conn

	server *Server
}

// 创建一个用户的API
func NewUser(conn net.Conn, server *Server) *User {
	userAddr := conn.RemoteAddr().String()
	user := User{
		Name:   userAddr,
		Attr:   userAddr,
		C:      make(chan string),
		conn:   conn,
		server: server,
	}

	//启动监听当前user channel 的goroutine
	go user.ListenMessage()

	return &user
}

// 用户上线业务
func (this *User) Online() {
	//用户上线，将user加入到onlineUserMap
	this.server.mapLock.Lock()
	this.server.OnlineUserMap[this.Name] = this
	this.server.mapLock.Unlock()

	//广播当前用户上线消息
	this.server.BroadCast(this, "已上线")
}

// 用户下线业务
func (this *User) Offline() {
	//用户下线，将user从onlineUserMap删除
	this.server.mapLock.Lock()
	delete(this.server.OnlineUserMap, this.Name)
	this.server.mapLock.Unlock()

	this.server.BroadCast(this, "下线")
}

// 给当前User对应的客户端发送消息
func (this *User) SendMsg(msg string) {
	this.conn.Write([]byte(msg))
}

// 用户处理消息的业务
func (this *User) DoMessage(msg string) {
	//去掉前后空格
	msg = strings.TrimSpace(msg)
	if msg == "who" { //如果消息是who，则是查询当前在线用户有哪些
		this.server.mapLock.Lock()
		for _, user := range this.server.OnlineUserMap {
			onlineMsg := "[" + user.Attr + "]" + user.Name + ": " + "在线...\n"
			this.SendMsg(onlineMsg)
		}
		this.server.mapLock.Unlock()
	} else if len(msg) > 6 && msg[:6] == "rename" { //如果是重命名
		newName := strings.TrimSpace(msg[6:])
		_, ok := this.server.OnlineUserMap[newName]
		if ok {
			this.SendMsg("当前用户名已经被使用\n")
		} else {
			this.server.mapLock.Lock()
			delete(this.server.OnlineUserMap, this.Name)
			this.Name = newName
			this.server.OnlineUserMap[newName] = this
			this.SendMsg("用户名已修改为：" + newName + "\n")
			this.server.mapLock.Unlock()
		}
	} else if len(msg) > 2 && msg[:2] == "to" { //如果是to，代表私聊
		//消息格式 to name hello

		//将msg分割为单词数组
		fields := strings.Fields(msg)
		if len(fields) < 3 {
			this.SendMsg("请输入对方用户名")
			return
		}

		//获取对方的用户名
		remoteName := fields[1]
		if strings.TrimSpace(remoteName) == "" {
			this.SendMsg("对方用户名不能为空")
			return
		}

		//在onlineUserMap中获取user对象
		remoteUser, ok := this.server.OnlineUserMap[remoteName]
		if !ok {
			this.SendMsg("该用户不存在")
			return
		}

		//获取消息内容，发送给remoteUser
		var content string
		for _, s := range fields[2:] {
			content += s + " "
		}
		if content == "" {
			this.SendMsg("无消息内容，请重发")
			return
		}
		remoteUser.SendMsg(this.Name + "想对您说：" + content)
	} else {
		this.server.BroadCast(this, msg)
	}
}

// 监听当前User channel的 方法,一旦有消息，就直接发送给对端客户端
func (this *User) ListenMessage() {
	for {
		msg := <-this.C
		this.conn.Write([]byte(msg + "\n"))
	}
}
